package parquetio_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/w1"
	"github.com/kappaflow/kappa/io/objstore"
	"github.com/kappaflow/kappa/io/parquetio"
	"github.com/kappaflow/kappa/pipeline"
)

// nullableEvent is w1.Event as a writer that makes every column optional (Spark, pandas, DuckDB) writes it.
type nullableEvent struct {
	Key   *string `parquet:"key"`
	Value *int64  `parquet:"value"`
	Time  *int64  `parquet:"time,timestamp(millisecond)"`
}

// optionalTagEvent reads nulls explicitly as zero values: the "optional" tag.
type optionalTagEvent struct {
	Key   string `parquet:"key,optional"`
	Value int64  `parquet:"value,optional"`
	Time  int64  `parquet:"time,timestamp(millisecond)"`
}

// nestedNullable has an optional group whose leaf is optional too; nestedOut reads it with a pointer to the
// group and a required leaf: a null group fits, a null leaf in a present group does not.
type nestedNullable struct {
	Key  string `parquet:"key"`
	Meta *struct {
		Score *int64 `parquet:"score"`
	} `parquet:"meta"`
}

type nestedOut struct {
	Key  string `parquet:"key"`
	Meta *struct {
		Score int64 `parquet:"score"`
	} `parquet:"meta"`
}

// nullableFile writes n W1 events with optional columns in row groups of rgRows; nulls maps a row to the column
// left null in it ("key", "value" or "time").
func nullableFile(t testing.TB, n int, rgRows int64, nulls map[int]string) []byte {
	rows := make([]nullableEvent, n)
	for i := range rows {
		e := w1.Gen(int64(i))
		rows[i] = nullableEvent{Key: &e.Key, Value: &e.Value, Time: &e.Time}
		switch nulls[i] {
		case "key":
			rows[i].Key = nil
		case "value":
			rows[i].Value = nil
		case "time":
			rows[i].Time = nil
		}
	}
	return writeParquet(t, nil, "", rows, rgRows)
}

func putFile(t testing.TB, dir, name string, data []byte) string {
	key := dir[1:] + "/" + name
	require.NoError(t, objstore.NewLocal().Put(context.Background(), key, data))
	return "/" + key
}

// An optional file column read into a field that cannot hold null: each null is a located error (Fail) or one
// dead letter naming file, row group, row and column (DeadLetter), never a zero value.
func TestNullsInOptionalColumnsAreNeverZeroValues(t *testing.T) {
	dir := t.TempDir()
	nulls := map[int]string{3: "key", 1500: "value", 1501: "time", 2999: "key"}
	url := putFile(t, dir, "nullable.parquet", nullableFile(t, 3000, 1000, nulls))

	// Fail (the default): the first null stops the read, located.
	src, err := parquetio.NewSource(parquetio.ReadConfig[w1.Event]{URL: url, TimeColumn: "time", Logger: quiet})
	require.NoError(t, err)
	_, err = drain[w1.Event](t, src, pipeline.Limits{MaxRecords: 100})
	var fe *parquetio.FileError
	require.True(t, errors.As(err, &fe), "got %v", err)
	require.ErrorIs(t, err, parquetio.ErrNull)
	require.Equal(t, url, fe.URL)
	require.Equal(t, 0, fe.RowGroup)
	require.Equal(t, int64(3), fe.Row)
	require.Equal(t, "key", fe.Column)
	require.Contains(t, err.Error(), fmt.Sprintf(`%s row group 0 row 3 column "key": null`, url))
	require.Contains(t, err.Error(), "pointer")

	// DeadLetter: one dead letter per null, the row left out, every other row read.
	src, err = parquetio.NewSource(parquetio.ReadConfig[w1.Event]{URL: url, TimeColumn: "time", Logger: quiet, OnError: parquetio.DeadLetter})
	require.NoError(t, err)
	d, err := drain[w1.Event](t, src, pipeline.Limits{MaxRecords: 100})
	require.NoError(t, err)
	require.Len(t, d.values, 3000-len(nulls))
	for i, v := range d.values {
		require.NotEmpty(t, v.Key, "record %d", i)
		require.Greater(t, v.Time, int64(0), "record %d", i)
		require.Equal(t, pipeline.Time(v.Time), d.times[i])
	}
	var locs []string
	for _, f := range d.failures {
		require.ErrorIs(t, f, parquetio.ErrNull)
		locs = append(locs, f.Location)
	}
	require.Equal(t, []string{
		url + ` row group 0 row 3 column "key"`,
		url + ` row group 1 row 500 column "value"`,
		url + ` row group 1 row 501 column "time"`,
		url + ` row group 2 row 999 column "key"`,
	}, locs)

	// Pointer fields and the "optional" tag hold nulls: no error, nil or zero by the user's choice.
	ptr, err := parquetio.NewSource(parquetio.ReadConfig[nullableEvent]{URL: url, Logger: quiet})
	require.NoError(t, err)
	dp, err := drain[nullableEvent](t, ptr, pipeline.Limits{MaxRecords: 100})
	require.NoError(t, err)
	require.Len(t, dp.values, 3000)
	require.Nil(t, dp.values[3].Key)
	require.Nil(t, dp.values[1500].Value)
	opt, err := parquetio.NewSource(parquetio.ReadConfig[optionalTagEvent]{URL: url, Logger: quiet, OnError: parquetio.DeadLetter})
	require.NoError(t, err)
	do, err := drain[optionalTagEvent](t, opt, pipeline.Limits{MaxRecords: 100})
	require.NoError(t, err)
	require.Len(t, do.values, 2999, "the null time is a dead letter: the tag is on key and value only")
	require.Len(t, do.failures, 1)
	require.Equal(t, "", do.values[3].Key)
}

// Optional columns without nulls read as before, with no dead letters: the statistics say there are none.
func TestOptionalColumnsWithoutNullsReadAsRequired(t *testing.T) {
	dir := t.TempDir()
	url := putFile(t, dir, "optional.parquet", nullableFile(t, 2000, 500, nil))
	src, err := parquetio.NewSource(parquetio.ReadConfig[w1.Event]{URL: url, TimeColumn: "time", Logger: quiet})
	require.NoError(t, err)
	d, err := drain[w1.Event](t, src, pipeline.Limits{MaxRecords: 300})
	require.NoError(t, err)
	require.Equal(t, events(0, 2000), d.values)
	require.Empty(t, d.failures)
}

// Nested: a null optional group fits T's pointer to the group; a null leaf inside a present group does not fit
// T's required leaf.
func TestNullsInNestedOptionalColumns(t *testing.T) {
	dir := t.TempDir()
	one := int64(1)
	rows := []nestedNullable{{Key: "a"}, {Key: "b"}, {Key: "c"}}
	rows[1].Meta = &struct {
		Score *int64 `parquet:"score"`
	}{Score: &one}
	rows[2].Meta = &struct {
		Score *int64 `parquet:"score"`
	}{} // present group, null score
	url := putFile(t, dir, "nested.parquet", writeParquet(t, nil, "", rows, 10))
	src, err := parquetio.NewSource(parquetio.ReadConfig[nestedOut]{URL: url, Logger: quiet, OnError: parquetio.DeadLetter})
	require.NoError(t, err)
	d, err := drain[nestedOut](t, src, pipeline.Limits{MaxRecords: 10})
	require.NoError(t, err)
	require.Len(t, d.values, 2)
	require.Nil(t, d.values[0].Meta, "a null group reads as a nil pointer")
	require.Equal(t, int64(1), d.values[1].Meta.Score)
	require.Len(t, d.failures, 1)
	require.Equal(t, url+` row group 0 row 2 column "meta.score"`, d.failures[0].Location)
}

// A writer that wrote no statistics: the nulls are still found, from the definition levels.
func TestNullsFoundWithoutStatistics(t *testing.T) {
	data := withoutStatistics(t, nullableFile(t, 100, 100, map[int]string{42: "value"}))
	dir := t.TempDir()
	url := putFile(t, dir, "nostats.parquet", data)
	src, err := parquetio.NewSource(parquetio.ReadConfig[w1.Event]{URL: url, Logger: quiet, OnError: parquetio.DeadLetter})
	require.NoError(t, err)
	d, err := drain[w1.Event](t, src, pipeline.Limits{MaxRecords: 30})
	require.NoError(t, err)
	require.Len(t, d.values, 99)
	require.Len(t, d.failures, 1)
	require.Equal(t, url+` row group 0 row 42 column "value"`, d.failures[0].Location)
}

// withoutStatistics rewrites a Parquet file's footer with the column chunks' statistics removed, as some writers
// leave them out.
func withoutStatistics(t testing.TB, data []byte) []byte {
	n := len(data)
	size := int(binary.LittleEndian.Uint32(data[n-8 : n-4]))
	var md format.FileMetaData
	require.NoError(t, thrift.Unmarshal(new(thrift.CompactProtocol), data[n-8-size:n-8], &md))
	for i := range md.RowGroups {
		for j := range md.RowGroups[i].Columns {
			md.RowGroups[i].Columns[j].MetaData.Statistics = format.Statistics{}
		}
	}
	footer, err := thrift.Marshal(new(thrift.CompactProtocol), &md)
	require.NoError(t, err)
	out := append(slices.Clone(data[:n-8-size]), footer...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(footer)))
	return append(out, "PAR1"...)
}
