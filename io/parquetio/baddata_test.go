package parquetio_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/w1"
	"github.com/kappaflow/kappa/io/parquetio"
	"github.com/kappaflow/kappa/pipeline"
)

var quiet = slog.New(slog.DiscardHandler)

func events(from, n int) []w1.Event {
	out := make([]w1.Event, n)
	for i := range out {
		out[i] = w1.Gen(int64(from + i))
	}
	return out
}

type noValue struct {
	Key  string `parquet:"key"`
	Time int64  `parquet:"time,timestamp(millisecond)"`
}

type stringValue struct {
	Key   string `parquet:"key"`
	Value string `parquet:"value"`
	Time  int64  `parquet:"time,timestamp(millisecond)"`
}

type listValue struct {
	Key   string  `parquet:"key"`
	Value []int64 `parquet:"value"`
	Time  int64   `parquet:"time,timestamp(millisecond)"`
}

// corruptFile writes 3 row groups of 1000 W1 events, uncompressed, and damages the page header of column
// "value" in row group 1.
func corruptFile(t testing.TB) []byte {
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[w1.Event](&buf, parquet.MaxRowsPerRowGroup(1000), parquet.Compression(&parquet.Uncompressed))
	_, err := w.Write(events(0, 3000))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	data := buf.Bytes()
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	require.NoError(t, err)
	off := f.Metadata().RowGroups[1].Columns[1].MetaData.DataPageOffset
	for i := range int64(8) {
		data[off+i] ^= 0x5a
	}
	return data
}

// putBadFiles writes one good file and one of each kind of bad file under rel.
func putBadFiles(t testing.TB, b backend, rel string) {
	ctx := context.Background()
	good := writeParquet(t, nil, "", events(0, 500), 250)
	require.NoError(t, b.store.Put(ctx, b.Key(rel+"a-good.parquet"), good))
	require.NoError(t, b.store.Put(ctx, b.Key(rel+"b-notes.txt"), []byte("hello world")))
	require.NoError(t, b.store.Put(ctx, b.Key(rel+"c-truncated.parquet"), good[:300]))
	writeParquet(t, b.store, b.Key(rel+"d-novalue.parquet"), []noValue{{Key: "k", Time: 1}}, 10)
	writeParquet(t, b.store, b.Key(rel+"e-stringvalue.parquet"), []stringValue{{Key: "k", Value: "v", Time: 1}}, 10)
	writeParquet(t, b.store, b.Key(rel+"f-listvalue.parquet"), []listValue{{Key: "k", Value: []int64{1}, Time: 1}}, 10)
	require.NoError(t, b.store.Put(ctx, b.Key(rel+"g-corrupt.parquet"), corruptFile(t)))
	require.NoError(t, b.store.Put(ctx, b.Key(rel+"h-empty.parquet"), nil))
}

// badCases are the unreadable files putBadFiles writes, with the error each gives; %s is the file's URL.
var badCases = []struct {
	file     string
	want     string
	sentinel error
}{
	{"b-notes.txt", "parquetio: %s: not a Parquet file: no PAR1 magic at its end (11 bytes)", parquetio.ErrNotParquet},
	{"c-truncated.parquet", "parquetio: %s: truncated Parquet file: it starts with PAR1 but does not end with it (300 bytes)", parquetio.ErrTruncated},
	{"d-novalue.parquet", `parquetio: %s column "value": schema does not match T: required column missing from the file`, parquetio.ErrSchemaMismatch},
	{"e-stringvalue.parquet", `parquetio: %s column "value": schema does not match T: the file has BYTE_ARRAY (STRING), T has INT64 (INT(64,true))`, parquetio.ErrSchemaMismatch},
	{"f-listvalue.parquet", `parquetio: %s column "value": schema does not match T: the column is repeated 1 levels deep in the file, 0 in T`, parquetio.ErrSchemaMismatch},
	{"g-corrupt.parquet", `parquetio: %s row group 1 row 0 column "value": corrupt Parquet data: decoding thrift payload: 4:FIELD<?>: skipping unsupported thrift type 15`, parquetio.ErrCorrupt},
	{"h-empty.parquet", "parquetio: %s: not a Parquet file: no PAR1 magic at its end (0 bytes)", parquetio.ErrNotParquet},
}

func TestBadDataFailsWithExactError(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			putBadFiles(t, b, "bad/")
			for _, tc := range badCases {
				url := b.URL("bad/" + tc.file)
				src, err := parquetio.NewSource(parquetio.ReadConfig[w1.Event]{URL: url, S3: b.s3, Logger: quiet})
				require.NoError(t, err)
				_, err = drain[w1.Event](t, src, pipeline.Limits{MaxRecords: 100})
				require.EqualError(t, err, fmt.Sprintf(tc.want, url), tc.file)
				require.ErrorIs(t, err, tc.sentinel, tc.file)
				var fe *parquetio.FileError
				require.ErrorAs(t, err, &fe, tc.file)
				require.Equal(t, url, fe.URL)
			}
		})
	}
}

func TestBadDataFailsTheListingInKeyOrder(t *testing.T) {
	b := backends(t)[0]
	putBadFiles(t, b, "bad/")
	src, err := parquetio.NewSource(parquetio.ReadConfig[w1.Event]{URL: b.URL("bad/"), Logger: quiet})
	require.NoError(t, err)
	_, err = src.Splits(context.Background())
	require.EqualError(t, err, fmt.Sprintf(badCases[0].want, b.URL("bad/b-notes.txt")),
		"the first bad file in key order fails the listing, before any data is read")
}

func TestBadDataGoesToDeadLettersAndTheRestIsRead(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			putBadFiles(t, b, "bad/")
			src, err := parquetio.NewSource(parquetio.ReadConfig[w1.Event]{URL: b.URL("bad/"), S3: b.s3,
				OnError: parquetio.DeadLetter, Logger: quiet})
			require.NoError(t, err)
			d, err := drain[w1.Event](t, src, pipeline.Limits{MaxRecords: 100})
			require.NoError(t, err)

			// The good file, and row groups 0 and 2 of the corrupt one.
			want := append(events(0, 500), events(0, 1000)...)
			want = append(want, events(2000, 1000)...)
			require.Equal(t, want, d.values)

			require.Len(t, d.failures, len(badCases))
			for i, tc := range badCases {
				url := b.URL("bad/" + tc.file)
				full := fmt.Sprintf(tc.want, url)
				f := d.failures[i]
				require.Equal(t, b.URL("bad/"), f.Source)
				var fe *parquetio.FileError
				require.ErrorAs(t, f, &fe)
				require.EqualError(t, fe, full)
				require.Equal(t, fe.Location(), f.Location)
				require.Equal(t, b.URL("bad/")+" "+strings.TrimPrefix(full, "parquetio: "), f.Error(),
					"the dead letter names the source, then the location once")
				require.ErrorIs(t, f, tc.sentinel)
			}
			st := src.Stats()
			require.Equal(t, 8, st.FilesListed)
			require.Equal(t, 6, st.FilesFailed, "five bad files fail at listing; the corrupt one fails one row group")
			require.Equal(t, 2, st.FilesRead)
			require.Equal(t, 5, st.RowGroupsListed)
			require.Equal(t, 5, st.RowGroupsRead)
			require.Equal(t, int64(3500), st.RowsTotal)
			require.Equal(t, int64(2500), st.RowsRead)
		})
	}
}

func TestEmptyInputIsAnError(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			require.NoError(t, b.store.Put(ctx, b.Key("markers/dt=1/_SUCCESS"), nil))
			require.NoError(t, b.store.Put(ctx, b.Key("markers/_staging/x.parquet"), []byte("x")))
			writeParquet(t, b.store, b.Key("old/dt=2016-09-20/a.parquet"), events(0, 10), 10)
			tests := []struct {
				name string
				cfg  parquetio.ReadConfig[w1.Event]
				want string
			}{
				{"nothing", parquetio.ReadConfig[w1.Event]{URL: b.URL("nothing/")},
					"parquetio: %snothing/: no input: no objects match"},
				{"no folder slash", parquetio.ReadConfig[w1.Event]{URL: strings.TrimSuffix(b.URL("nothing/"), "/")},
					"parquetio: %snothing: no input: no objects match"},
				{"glob", parquetio.ReadConfig[w1.Event]{URL: b.URL("old/dt=2017-*/*.parquet")},
					"parquetio: %sold/dt=2017-*/*.parquet: no input: no objects match"},
				{"only hidden", parquetio.ReadConfig[w1.Event]{URL: b.URL("markers/")},
					"parquetio: %smarkers/: no input: no objects match (2 hidden objects such as _SUCCESS skipped)"},
				{"all pruned", parquetio.ReadConfig[w1.Event]{URL: b.URL("old/"), From: time.Date(2016, 9, 21, 0, 0, 0, 0, time.UTC),
					TimePartitions: []parquetio.TimePartition{{Key: "dt", Layout: "2006-01-02"}}},
					"parquetio: %sold/: no input: none of the 1 files has rows in [2016-09-21T00:00:00.000Z, +inf) (1 pruned by partition, 0 row groups by statistics)"},
			}
			for _, tc := range tests {
				tc.cfg.S3, tc.cfg.Logger = b.s3, quiet
				src, err := parquetio.NewSource(tc.cfg)
				require.NoError(t, err)
				_, err = src.Splits(ctx)
				require.EqualError(t, err, fmt.Sprintf(tc.want, b.url), tc.name)
				require.ErrorIs(t, err, parquetio.ErrNoInput, tc.name)

				tc.cfg.AllowEmpty = true
				src, err = parquetio.NewSource(tc.cfg)
				require.NoError(t, err)
				splits, err := src.Splits(ctx)
				require.NoError(t, err, tc.name)
				require.Empty(t, splits, tc.name)
			}
		})
	}
}
