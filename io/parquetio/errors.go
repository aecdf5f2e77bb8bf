package parquetio

import (
	"errors"
	"fmt"
	"strings"

	"github.com/kappaflow/kappa/pipeline"
)

var (
	// ErrNotParquet is the cause of a FileError for an object that is not a Parquet file.
	ErrNotParquet = errors.New("not a Parquet file")
	// ErrTruncated is the cause of a FileError for a Parquet file whose end is missing.
	ErrTruncated = errors.New("truncated Parquet file")
	// ErrSchemaMismatch is the cause of a FileError for a file whose schema cannot be read into T.
	ErrSchemaMismatch = errors.New("schema does not match T")
	// ErrCorrupt is the cause of a FileError for a file whose metadata or pages cannot be decoded.
	ErrCorrupt = errors.New("corrupt Parquet data")
	// ErrNull is the cause of a FileError for a null in a column that is optional in the file but whose field in T
	// cannot hold null (a plain string, number or time): the row is not read as zero values. Make the field a
	// pointer, or tag it "optional" to read nulls as zero values on purpose.
	ErrNull = errors.New("null in a column whose field in T cannot hold null; make the field a pointer, or tag it \"optional\" to read nulls as zero values")
	// ErrNoInput is returned by Source.Splits when the input lists no object to read.
	ErrNoInput = errors.New("no input")
)

// FileError is a failure to read (part of) one input object. In OnError Fail mode the source returns it; in
// DeadLetter mode it becomes a *pipeline.RecordError whose Location is FileError.Location and whose Err prints
// the cause and unwraps to the FileError (errors.As finds it), and the rest of the input is read.
type FileError struct {
	// URL is the object, e.g. "s3://bucket/events/dt=2016-09-21/part-0.parquet".
	URL string
	// RowGroup is the row group, or -1 when the failure concerns the whole file (footer, schema).
	RowGroup int
	// Row is the row within the row group where reading failed, or -1 when unknown or not applicable.
	Row int64
	// Column is the column's dot-separated path, or "" when the failure concerns no single column.
	Column string
	// Err is the cause; errors.Is finds ErrNotParquet, ErrTruncated, ErrSchemaMismatch, ErrCorrupt or ErrNull in
	// it.
	Err error
}

// Location formats where the failure is: `/data/a.parquet row group 2 row 17 column "value"`.
func (e *FileError) Location() string {
	var b strings.Builder
	b.WriteString(e.URL)
	if e.RowGroup >= 0 {
		fmt.Fprintf(&b, " row group %d", e.RowGroup)
	}
	if e.Row >= 0 {
		fmt.Fprintf(&b, " row %d", e.Row)
	}
	if e.Column != "" {
		fmt.Fprintf(&b, " column %q", e.Column)
	}
	return b.String()
}

// Error formats the failure as "parquetio: LOCATION: CAUSE".
func (e *FileError) Error() string { return "parquetio: " + e.Location() + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *FileError) Unwrap() error { return e.Err }

func fileErr(url string, err error) *FileError {
	return &FileError{URL: url, RowGroup: -1, Row: -1, Err: err}
}

// recordError turns a FileError into the dead-letter record of source: its Location is the FileError's, its Err
// prints the cause alone (RecordError.Error adds the location) and unwraps to the *FileError.
func recordError(source string, fe *FileError) *pipeline.RecordError {
	return &pipeline.RecordError{Source: source, Location: fe.Location(), Err: causeOf{fe}}
}

type causeOf struct{ fe *FileError }

func (c causeOf) Error() string { return c.fe.Err.Error() }
func (c causeOf) Unwrap() error { return c.fe }
