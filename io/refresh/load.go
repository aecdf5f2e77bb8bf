package refresh

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/kappaflow/kappa/io/objstore"
	"github.com/kappaflow/kappa/io/parquetio"
	"github.com/kappaflow/kappa/pipeline"
)

// ParquetLoad returns a Load that reads every record of a Parquet file or folder with io/parquetio's reader:
// cfg is a parquetio.ReadConfig (URL a file, a folder or a glob, local or s3://; schema checks, Hive partition
// fields, time-range pruning as for parquetio.Read). Each call lists the input again, so files added, replaced
// or removed since the last load are seen. Unreadable input fails the load — whatever cfg.OnError says — with
// the parquetio error naming the file (and row group), so the previous snapshot is kept. An input that lists no
// file fails with parquetio.ErrNoInput unless cfg.AllowEmpty.
func ParquetLoad[T any](cfg parquetio.ReadConfig[T]) func(ctx context.Context) ([]T, error) {
	cfg.OnError = parquetio.Fail
	if cfg.ProgressInterval == 0 {
		cfg.ProgressInterval = -1 // a progress line per reload is noise
	}
	return func(ctx context.Context) ([]T, error) {
		src, err := parquetio.NewSource(cfg)
		if err != nil {
			return nil, err
		}
		splits, err := src.Splits(ctx)
		if err != nil {
			return nil, err
		}
		var rows []T
		var b pipeline.Batch[T]
		for _, sp := range splits {
			r, err := src.Open(ctx, sp, nil)
			if err != nil {
				return nil, fmt.Errorf("parquetio: %s: open %s: %w", cfg.URL, sp.ID, err)
			}
			for {
				b.Reset()
				err := r.ReadBatch(ctx, &b, pipeline.Limits{MaxRecords: 8192})
				if len(b.Failures) > 0 {
					r.Close()
					return nil, b.Failures[0]
				}
				rows = append(rows, b.Values...)
				if errors.Is(err, pipeline.ErrEndOfInput) {
					break
				}
				if err != nil {
					r.Close()
					return nil, err
				}
			}
			if err := r.Close(); err != nil {
				return nil, fmt.Errorf("parquetio: %s: close %s: %w", cfg.URL, sp.ID, err)
			}
		}
		return rows, nil
	}
}

// CSVConfig configures CSVLoad.
type CSVConfig[T any] struct {
	// URL names the file: a local path, file:// or s3:// URL. Required.
	URL string
	// S3 configures access to s3:// URLs. Default: the AWS chain.
	S3 objstore.Config
	// Comma is the field separator. Default ','.
	Comma rune
	// Comment, when set, starts comment lines.
	Comment rune
	// NoHeader says the file has no header line. Default false: the first record names the columns (CSVRow.Get).
	NoHeader bool
	// Columns are the header columns the file must have; a file missing one fails the load, naming it.
	Columns []string
	// Decode turns one record into a row; its error fails the load, with the file and line. Required.
	Decode func(r CSVRow) (T, error)
}

// CSVRow is one record of a CSV file, for CSVConfig.Decode.
type CSVRow struct {
	// Fields are the record's fields, in file order (shared with the reader: copy them to keep them).
	Fields []string
	// Line is the record's line in the file, from 1.
	Line   int
	header map[string]int
}

// Get returns the field of column name (per the header), or "" when the file has no such column or no header.
func (r CSVRow) Get(name string) string {
	i, ok := r.header[name]
	if !ok || i >= len(r.Fields) {
		return ""
	}
	return r.Fields[i]
}

// CSVLoad returns a Load that reads a CSV file with encoding/csv and turns each record into a row with
// cfg.Decode (no reflection: the decoder is yours). A malformed file, a missing column or a record Decode
// refuses fails the load, naming the file and line, so the previous snapshot is kept.
func CSVLoad[T any](cfg CSVConfig[T]) func(ctx context.Context) ([]T, error) {
	return func(ctx context.Context) ([]T, error) {
		if cfg.Decode == nil {
			return nil, fmt.Errorf("refresh: CSVConfig.Decode is nil (%s)", cfg.URL)
		}
		store, key, err := objstore.Open(ctx, cfg.URL, cfg.S3)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cfg.URL, err)
		}
		obj, err := store.Open(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cfg.URL, err)
		}
		defer obj.Close()
		cr := csv.NewReader(io.NewSectionReader(obj, 0, obj.Size()))
		cr.ReuseRecord = true
		cr.FieldsPerRecord = -1
		if cfg.Comma != 0 {
			cr.Comma = cfg.Comma
		}
		cr.Comment = cfg.Comment
		row := CSVRow{header: map[string]int{}}
		if !cfg.NoHeader {
			h, err := cr.Read()
			if err != nil {
				return nil, fmt.Errorf("%s: header: %w", cfg.URL, err)
			}
			for i, name := range h {
				row.header[name] = i
			}
			for _, c := range cfg.Columns {
				if _, ok := row.header[c]; !ok {
					return nil, fmt.Errorf("%s: no column %q in the header %q", cfg.URL, c, slices.Clone(h))
				}
			}
		}
		var rows []T
		for {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			rec, err := cr.Read()
			if errors.Is(err, io.EOF) {
				return rows, nil
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", cfg.URL, err) // csv.ParseError names the line
			}
			row.Fields = rec
			row.Line, _ = cr.FieldPos(0)
			v, err := cfg.Decode(row)
			if err != nil {
				return nil, fmt.Errorf("%s line %d: %w", cfg.URL, row.Line, err)
			}
			rows = append(rows, v)
		}
	}
}
