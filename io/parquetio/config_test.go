package parquetio_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/w1"
	"github.com/kappaflow/kappa/io/objstore"
	"github.com/kappaflow/kappa/io/parquetio"
	"github.com/kappaflow/kappa/pipeline"
)

func TestReadConfigValidate(t *testing.T) {
	from := time.Date(2016, 9, 21, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		cfg  parquetio.ReadConfig[w1.Event]
		want string
	}{
		{"minimal", parquetio.ReadConfig[w1.Event]{URL: "/data/"}, ""},
		{"no URL", parquetio.ReadConfig[w1.Event]{}, "parquetio: ReadConfig.URL is empty"},
		{"bad scheme", parquetio.ReadConfig[w1.Event]{URL: "gs://b/k"},
			`parquetio: ReadConfig.URL: objstore: "gs://b/k": unsupported scheme "gs" (want s3://, file:// or a path)`},
		{"bad S3", parquetio.ReadConfig[w1.Event]{URL: "s3://b/", S3: objstore.Config{PartSize: 1}},
			"parquetio: ReadConfig.S3: objstore: PartSize 1 is below the S3 minimum of 5242880 bytes"},
		{"range backwards", parquetio.ReadConfig[w1.Event]{URL: "/d/", TimeColumn: "time", From: from, To: from},
			"parquetio: ReadConfig.From 2016-09-21T00:00:00Z is not before To 2016-09-21T00:00:00Z"},
		{"range without time", parquetio.ReadConfig[w1.Event]{URL: "/d/", From: from},
			"parquetio: ReadConfig.From/To need a TimeColumn, EventTime or TimePartitions"},
		{"partition layout without year", parquetio.ReadConfig[w1.Event]{URL: "/d/", TimePartitions: []parquetio.TimePartition{{Key: "hour", Layout: "15"}}},
			`parquetio: ReadConfig.TimePartitions: the layouts "15" name no year`},
		{"bad partition key", parquetio.ReadConfig[w1.Event]{URL: "/d/", TimePartitions: []parquetio.TimePartition{{Key: "a=b", Layout: "2006"}}},
			`parquetio: ReadConfig.TimePartitions[0]: bad key "a=b"`},
		{"nil setter and policy", parquetio.ReadConfig[w1.Event]{URL: "/d/", OnError: 7,
			PartitionFields: map[string]func(*w1.Event, string) error{"dt": nil}},
			"parquetio: ReadConfig.OnError ErrorPolicy(7) is not Fail or DeadLetter\nparquetio: ReadConfig.PartitionFields[\"dt\"] is nil"},
		{"negative", parquetio.ReadConfig[w1.Event]{URL: "/d/", OpenConcurrency: -1},
			"parquetio: ReadConfig.OpenConcurrency -1 is negative"},
	}
	for _, tc := range tests {
		err := tc.cfg.Validate()
		if tc.want == "" {
			require.NoError(t, err, tc.name)
			continue
		}
		require.EqualError(t, err, tc.want, tc.name)
		_, err = parquetio.NewSource(tc.cfg)
		require.EqualError(t, err, tc.want, tc.name)
	}
}

func TestNewSourceChecksTAndTimeColumn(t *testing.T) {
	type nested struct {
		Meta struct {
			TS *time.Time `parquet:"ts,optional"`
		} `parquet:"meta"`
		Name string  `parquet:"name"`
		Tags []int64 `parquet:"tags"`
	}
	tests := []struct {
		name string
		new  func() error
		want string
	}{
		{"not a struct", func() error { _, err := parquetio.NewSource(parquetio.ReadConfig[int]{URL: "/d/"}); return err },
			"parquetio: int is not a struct; records must be structs with parquet tags"},
		{"no columns", func() error {
			_, err := parquetio.NewSource(parquetio.ReadConfig[struct{ x int }]{URL: "/d/"})
			return err
		}, "parquetio: struct { x int } has no Parquet columns (no exported fields?)"},
		{"unknown column", func() error {
			_, err := parquetio.NewSource(parquetio.ReadConfig[nested]{URL: "/d/", TimeColumn: "ts"})
			return err
		}, `parquetio: TimeColumn "ts" is not a column of parquetio_test.nested (columns: meta.ts, name, tags)`},
		{"wrong type", func() error {
			_, err := parquetio.NewSource(parquetio.ReadConfig[nested]{URL: "/d/", TimeColumn: "name"})
			return err
		}, `parquetio: TimeColumn "name" is a string; want time.Time, *time.Time, int64 or *int64`},
		{"repeated", func() error {
			_, err := parquetio.NewSource(parquetio.ReadConfig[nested]{URL: "/d/", TimeColumn: "tags"})
			return err
		}, `parquetio: TimeColumn "tags" is repeated; it must hold one value per record`},
		{"nested pointer is fine", func() error {
			_, err := parquetio.NewSource(parquetio.ReadConfig[nested]{URL: "/d/", TimeColumn: "meta.ts"})
			return err
		}, ""},
	}
	for _, tc := range tests {
		err := tc.new()
		if tc.want == "" {
			require.NoError(t, err, tc.name)
		} else {
			require.EqualError(t, err, tc.want, tc.name)
		}
	}
}

func TestWriteConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  parquetio.WriteConfig[w1.Event]
		want string
	}{
		{"minimal", parquetio.WriteConfig[w1.Event]{URL: "s3://b/out/"}, ""},
		{"no URL", parquetio.WriteConfig[w1.Event]{}, "parquetio: WriteConfig.URL is empty"},
		{"glob URL", parquetio.WriteConfig[w1.Event]{URL: "/out/*"}, `parquetio: WriteConfig.URL "/out/*" holds glob characters`},
		{"codec", parquetio.WriteConfig[w1.Event]{URL: "/o/", Codec: 9}, "parquetio: WriteConfig.Codec Codec(9) is unknown"},
		{"layout without year", parquetio.WriteConfig[w1.Event]{URL: "/o/", FolderLayout: "hour=15"},
			`parquetio: WriteConfig.FolderLayout "hour=15" names no year`},
		{"layout slash", parquetio.WriteConfig[w1.Event]{URL: "/o/", FolderLayout: "dt=2006-01-02/"},
			`parquetio: WriteConfig.FolderLayout "dt=2006-01-02/" must not start or end with / or hold //`},
		{"marker and job", parquetio.WriteConfig[w1.Event]{URL: "/o/", SuccessMarker: "a/b", JobID: "x/y"},
			"parquetio: WriteConfig.SuccessMarker \"a/b\" holds a /\nparquetio: WriteConfig.JobID \"x/y\" holds a /"},
		{"negative", parquetio.WriteConfig[w1.Event]{URL: "/o/", MaxFileRows: -1, AllowedLateness: -time.Second},
			"parquetio: WriteConfig.MaxFileRows -1 is negative\nparquetio: WriteConfig.AllowedLateness -1000000000 is negative"},
	}
	for _, tc := range tests {
		err := tc.cfg.Validate()
		if tc.want == "" {
			require.NoError(t, err, tc.name)
			continue
		}
		require.EqualError(t, err, tc.want, tc.name)
		_, err = parquetio.NewSink(tc.cfg)
		require.EqualError(t, err, tc.want, tc.name)
	}
}

func TestPipelineReadAndWrite(t *testing.T) {
	p := pipeline.New()
	s := p.Root()
	events := parquetio.Read(s, parquetio.ReadConfig[w1.Event]{URL: "s3://archive/events/", TimeColumn: "time"})
	parquetio.Write(s.Scope("archive"), events, parquetio.WriteConfig[w1.Event]{URL: "/tmp/out/"})
	good, bad := parquetio.ReadWithDeadLetters(s, parquetio.ReadConfig[w1.Event]{URL: "/data/"}, pipeline.ReadName("backfill"))
	require.True(t, good.Valid())
	require.True(t, bad.Valid())
	require.NoError(t, p.Err())
	require.Equal(t, "ReadParquet: Read(s3://archive/events/)  out: ReadParquet.out0 (w1.Event)\n"+
		"archive/Write: Write(/tmp/out/)  in: ReadParquet.out0\n"+
		"backfill: Read(/data/)  out: backfill.out0 (w1.Event) backfill.out1 (*pipeline.RecordError)\n", p.String())

	p = pipeline.New()
	col := parquetio.Read(p.Root().Scope("in"), parquetio.ReadConfig[w1.Event]{})
	require.False(t, col.Valid())
	parquetio.Write(p.Root(), col, parquetio.WriteConfig[w1.Event]{URL: "/o/", Codec: 5})
	require.EqualError(t, p.Err(), "in: parquetio: ReadConfig.URL is empty\nparquetio: WriteConfig.Codec Codec(5) is unknown")
}

func TestLogsListingProgressAndCompletion(t *testing.T) {
	b := backends(t)[0]
	writeParquet(t, b.store, b.Key("log/a.parquet"), events(0, 3000), 1000)
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		switch a.Key {
		case "time", "took", "rows_per_s", "mb_per_s", "eta", "bytes":
			return slog.Attr{}
		}
		return a
	}}))
	src, err := parquetio.NewSource(parquetio.ReadConfig[w1.Event]{URL: b.URL("log/"), Logger: logger, ProgressInterval: time.Nanosecond})
	require.NoError(t, err)
	_, err = drain[w1.Event](t, src, pipeline.Limits{MaxRecords: 1000})
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	src0 := "source=" + b.URL("log/")
	require.Equal(t, `level=INFO msg="parquetio: listed input" `+src0+` files=1 hidden=0 files_pruned=0 files_failed=0 row_groups=3 row_groups_pruned=0 splits=3 bytes_pruned=0 rows=3000`, lines[0])
	require.Contains(t, lines, `level=INFO msg="parquetio: progress" `+src0+` files=0/1 row_groups=1/3 rows=2000/3000`)
	require.Equal(t, `level=INFO msg="parquetio: read input" `+src0+` files=1 row_groups=3 rows=3000 rows_filtered=0`, lines[len(lines)-1])
	_ = context.Background()
}
