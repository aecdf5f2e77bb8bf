package parquetio_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/io/parquetio"
	"github.com/kappaflow/kappa/pipeline"
)

// visit is a record of a partitioned archive; Region and Hour come from the folders, not the files.
type visit struct {
	ID     int64     `parquet:"id"`
	At     time.Time `parquet:"at,timestamp(millisecond)"`
	Page   string    `parquet:"page"`
	Region string    `parquet:"-"`
	Hour   string    `parquet:"-"`
}

var day = time.Date(2016, 9, 21, 0, 0, 0, 0, time.UTC)

// putArchive writes region=eu/dt=YYYY-MM-DD/hour=HH/part-0.parquet for 8 hours from 2016-09-21T18:00Z, each with
// one visit per second in 3 row groups of 20 minutes.
func putArchive(t testing.TB, b backend) []visit {
	var all []visit
	for h := 18; h < 26; h++ {
		start := day.Add(time.Duration(h) * time.Hour)
		vs := make([]visit, 3600)
		for i := range vs {
			vs[i] = visit{ID: int64(len(all) + i), At: start.Add(time.Duration(i) * time.Second), Page: fmt.Sprintf("/p/%d", i%13)}
		}
		key := fmt.Sprintf("archive/region=eu/dt=%s/hour=%02d/part-0.parquet", start.Format("2006-01-02"), start.Hour())
		writeParquet(t, b.store, b.Key(key), vs, 1200)
		for i := range vs {
			vs[i].Region, vs[i].Hour = "eu", fmt.Sprintf("%02d", start.Hour())
		}
		all = append(all, vs...)
	}
	return all
}

func archiveConfig(b backend) parquetio.ReadConfig[visit] {
	return parquetio.ReadConfig[visit]{
		URL: b.URL("archive/"), S3: b.s3, Logger: quiet, TimeColumn: "at",
		From:           day.Add(19*time.Hour + 30*time.Minute),
		To:             day.Add(21*time.Hour + 10*time.Minute),
		TimePartitions: []parquetio.TimePartition{{Key: "dt", Layout: "2006-01-02"}, {Key: "hour", Layout: "15"}},
		PartitionFields: map[string]func(*visit, string) error{
			"region": func(v *visit, s string) error { v.Region = s; return nil },
			"hour":   func(v *visit, s string) error { v.Hour = s; return nil },
		},
	}
}

func TestPruningByPartitionsAndStatistics(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			all := putArchive(t, b)
			cfg := archiveConfig(b)
			src, err := parquetio.NewSource(cfg)
			require.NoError(t, err)
			if b.srv != nil {
				b.srv.ResetStats()
			}
			d, err := drain[visit](t, src, pipeline.Limits{MaxRecords: 500})
			require.NoError(t, err)

			var want []visit
			for _, v := range all {
				if !v.At.Before(cfg.From) && v.At.Before(cfg.To) {
					want = append(want, v)
				}
			}
			require.Len(t, want, 6000)
			require.Equal(t, want, d.values, "records in [From, To) with their partition fields")
			for i, tm := range d.times {
				require.Equal(t, pipeline.TimeOf(want[i].At), tm)
			}

			st := src.Stats()
			require.Equal(t, 8, st.FilesListed)
			require.Equal(t, 5, st.FilesPruned, "hours 18, 22, 23, 00 and 01 are outside the range")
			require.Equal(t, 9, st.RowGroupsListed, "only the footers of hours 19-21 are read")
			require.Equal(t, 3, st.RowGroupsPruned, "19:00-19:20, 21:20-21:40 and 21:40-22:00")
			require.Equal(t, 6, st.RowGroupsRead)
			require.Equal(t, int64(7200), st.RowsTotal)
			require.Equal(t, int64(7200), st.RowsRead)
			require.Equal(t, int64(1200), st.RowsFiltered, "19:20-19:30 and 21:00-21:10 are read but outside the range")
			require.Len(t, d.splits, 6)
			require.Equal(t, b.URL("archive/region=eu/dt=2016-09-21/hour=19/part-0.parquet#rg=1"), d.splits[0].ID)

			if b.srv != nil {
				// One ranged GET per kept file for its footer (these small files fit in the 64 KiB tail read) and one
				// per column chunk of each kept row group; the pruned files are never fetched.
				require.Equal(t, int64(3+6*3), b.srv.Stats().Gets)
				require.Equal(t, b.srv.Stats().Gets, b.srv.Stats().RangedGets)
			}
		})
	}
}

func TestWatermarkHintsFromStatistics(t *testing.T) {
	b := backends(t)[0]
	putArchive(t, b)
	cfg := archiveConfig(b)
	src, err := parquetio.NewSource(cfg)
	require.NoError(t, err)
	d, err := drain[visit](t, src, pipeline.Limits{MaxRecords: 500})
	require.NoError(t, err)
	hour19 := b.URL("archive/region=eu/dt=2016-09-21/hour=19/part-0.parquet")
	tests := []struct {
		split string
		want  pipeline.Time
	}{
		{hour19 + "#rg=1", pipeline.TimeOf(cfg.From)}, // the row group starts at 19:20, before From
		{hour19 + "#rg=2", pipeline.TimeOf(day.Add(19*time.Hour + 40*time.Minute))},
		{b.URL("archive/region=eu/dt=2016-09-21/hour=21/part-0.parquet#rg=0"), pipeline.TimeOf(day.Add(21 * time.Hour))},
	}
	for _, tc := range tests {
		hints := d.hints[tc.split]
		require.Len(t, hints, 3, tc.split) // 1200 rows in batches of 500
		require.Equal(t, []pipeline.Time{tc.want, tc.want, pipeline.MaxTime}, hints, tc.split)
	}

	// With an EventTime function the statistics may not describe Batch.Times: no hints.
	cfg.EventTime = func(v visit) time.Time { return v.At }
	src, err = parquetio.NewSource(cfg)
	require.NoError(t, err)
	d, err = drain[visit](t, src, pipeline.Limits{MaxRecords: 500})
	require.NoError(t, err)
	require.Equal(t, []pipeline.Time{pipeline.MinTime, pipeline.MinTime, pipeline.MaxTime}, d.hints[hour19+"#rg=2"])
	require.Len(t, d.values, 6000)
}

func TestPartitionFieldErrorFailsTheFile(t *testing.T) {
	b := backends(t)[0]
	putArchive(t, b)
	cfg := archiveConfig(b)
	cfg.PartitionFields["hour"] = func(v *visit, s string) error {
		if s == "20" {
			return fmt.Errorf("hour %s is embargoed", s)
		}
		return nil
	}
	src, err := parquetio.NewSource(cfg)
	require.NoError(t, err)
	_, err = drain[visit](t, src, pipeline.Limits{MaxRecords: 500})
	require.EqualError(t, err, `parquetio: `+b.URL("archive/region=eu/dt=2016-09-21/hour=20/part-0.parquet")+
		` row group 0 row 0: partition hour=20: hour 20 is embargoed`)
}

func TestTimePartitionsWithoutTimeColumn(t *testing.T) {
	b := backends(t)[0]
	putArchive(t, b)
	cfg := archiveConfig(b)
	cfg.TimeColumn = ""
	cfg.PartitionFields = nil
	src, err := parquetio.NewSource(cfg)
	require.NoError(t, err)
	d, err := drain[visit](t, src, pipeline.Limits{})
	require.NoError(t, err)
	require.Len(t, d.values, 3*3600, "whole hours 19-21: partitions are pruned, rows are not filtered without a time")
	require.Equal(t, pipeline.MinTime, d.times[0])
}

func TestS3ReadsOnlyFooterAndNeededColumnChunks(t *testing.T) {
	b := backends(t)[1]
	type keyOnly struct {
		Key string `parquet:"key"`
	}
	data := writeParquet(t, b.store, b.Key("big/a.parquet"), events(0, 200000), 100000)
	src, err := parquetio.NewSource(parquetio.ReadConfig[keyOnly]{URL: b.URL("big/"), S3: b.s3, Logger: quiet})
	require.NoError(t, err)
	b.srv.ResetStats()
	d, err := drain[keyOnly](t, src, pipeline.Limits{MaxRecords: 10000})
	require.NoError(t, err)
	require.Len(t, d.values, 200000)
	require.Equal(t, events(7, 1)[0].Key, d.values[7].Key)
	st := b.srv.Stats()
	require.Equal(t, int64(1+2), st.Gets, "the 64 KiB tail holding the footer, then column key of each row group")
	require.Less(t, st.BytesOut, int64(len(data))/2, "the time and value chunks are never fetched")
	require.Equal(t, st.BytesOut, src.Stats().BytesRead)
}

func TestResumeMidRowGroup(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			rows := events(0, 3000)
			writeParquet(t, b.store, b.Key("resume/a.parquet"), rows, 1200)
			src, err := parquetio.NewSource(parquetio.ReadConfig[visit2]{URL: b.URL("resume/"), S3: b.s3, Logger: quiet, TimeColumn: "time"})
			require.NoError(t, err)
			splits, err := src.Splits(ctx)
			require.NoError(t, err)
			require.Len(t, splits, 3)
			split := splits[1] // rows 1200..2399

			r, err := src.Open(ctx, split, nil)
			require.NoError(t, err)
			var b1 pipeline.Batch[visit2]
			for range 2 {
				require.NoError(t, r.ReadBatch(ctx, &b1, pipeline.Limits{MaxRecords: 250}))
			}
			pos := r.Position()
			require.Equal(t, "row=500", string(pos))
			require.NoError(t, r.Close())

			// A new source (a restarted job) resumes from the position.
			src2, err := parquetio.NewSource(parquetio.ReadConfig[visit2]{URL: b.URL("resume/"), S3: b.s3, Logger: quiet, TimeColumn: "time"})
			require.NoError(t, err)
			r2, err := src2.Open(ctx, split, pos)
			require.NoError(t, err)
			var b2 pipeline.Batch[visit2]
			require.ErrorIs(t, r2.ReadBatch(ctx, &b2, pipeline.Limits{MaxRecords: 10000}), pipeline.ErrEndOfInput)
			require.Equal(t, "row=1200", string(r2.Position()))
			require.NoError(t, r2.Close())
			got := append(b1.Values, b2.Values...)
			want := make([]visit2, 1200)
			for i := range want {
				want[i] = visit2(rows[1200+i])
			}
			require.Equal(t, want, got)
			require.Equal(t, pipeline.Time(rows[1700].Time), b2.Times[0])

			// At the end position the split is done at once.
			r3, err := src2.Open(ctx, split, []byte("row=1200"))
			require.NoError(t, err)
			var b3 pipeline.Batch[visit2]
			require.ErrorIs(t, r3.ReadBatch(ctx, &b3, pipeline.Limits{}), pipeline.ErrEndOfInput)
			require.Zero(t, b3.Len())

			for _, bad := range []string{"row=1201", "row=-1", "rows=3", "x"} {
				_, err := src2.Open(ctx, split, []byte(bad))
				require.EqualError(t, err, fmt.Sprintf("parquetio: %s: bad position %q for row group 1 of 1200 rows", b.URL("resume/a.parquet"), bad))
			}
			_, err = src2.Open(ctx, pipeline.Split{ID: "nope"}, nil)
			require.EqualError(t, err, `parquetio: `+b.URL("resume/")+`: unknown split "nope"`)
		})
	}
}

// visit2 has W1's schema.
type visit2 struct {
	Key   string `parquet:"key"`
	Value int64  `parquet:"value"`
	Time  int64  `parquet:"time,timestamp(millisecond)"`
}

func TestMaxBytesLimitsTheBatch(t *testing.T) {
	b := backends(t)[0]
	writeParquet(t, b.store, b.Key("limits/a.parquet"), events(0, 1000), 1000)
	src, err := parquetio.NewSource(parquetio.ReadConfig[visit2]{URL: b.URL("limits/"), Logger: quiet})
	require.NoError(t, err)
	splits, err := src.Splits(context.Background())
	require.NoError(t, err)
	perRow := splits[0].Size / 1000
	r, err := src.Open(context.Background(), splits[0], nil)
	require.NoError(t, err)
	defer r.Close()
	var bt pipeline.Batch[visit2]
	require.NoError(t, r.ReadBatch(context.Background(), &bt, pipeline.Limits{MaxRecords: 1000, MaxBytes: 100 * perRow}))
	require.Equal(t, 100, bt.Len())
	require.Equal(t, 100*splits[0].Size/1000, bt.Bytes, "the batch counts its share of the row group's compressed bytes")
}
