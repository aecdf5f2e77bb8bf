package parquetio_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/w1"
	"github.com/kappaflow/kappa/io/objstore"
	"github.com/kappaflow/kappa/io/parquetio"
	"github.com/kappaflow/kappa/pipeline"
)

// readFile reads one Parquet object whole with parquet-go, returning its rows and row group sizes.
func readFile[T any](t testing.TB, b backend, rel string) ([]T, []int64, *parquet.File) {
	t.Helper()
	data := readObject(t, b, rel)
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	require.NoError(t, err)
	var rows []T
	var groups []int64
	for _, rg := range f.RowGroups() {
		r := parquet.NewGenericRowGroupReader[T](rg)
		buf := make([]T, rg.NumRows())
		n, _ := r.Read(buf)
		require.Equal(t, int(rg.NumRows()), n)
		rows = append(rows, buf...)
		groups = append(groups, rg.NumRows())
	}
	return rows, groups, f
}

func readObject(t testing.TB, b backend, rel string) []byte {
	t.Helper()
	r, err := b.store.Open(context.Background(), b.Key(rel))
	require.NoError(t, err)
	defer r.Close()
	data := make([]byte, r.Size())
	_, err = r.ReadAt(data, 0)
	if err != nil {
		require.ErrorContains(t, err, "EOF")
	}
	return data
}

func exists(t testing.TB, b backend, rel string) bool {
	ok, err := objstore.Exists(context.Background(), b.store, b.Key(rel))
	require.NoError(t, err)
	return ok
}

func TestSinkRollsFilesByRowCount(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			rows := events(0, 2500)
			sink, err := parquetio.NewSink(parquetio.WriteConfig[w1.Event]{URL: b.URL("out"), S3: b.s3, Logger: quiet,
				MaxFileRows: 1000, RowGroupRows: 400})
			require.NoError(t, err)
			commitAll(t, sink, globalElems(rows), pipeline.Epoch{ID: 7, Watermark: pipeline.MaxTime, Final: true})
			require.Equal(t, []string{
				"out/_SUCCESS",
				"out/_kappa/default/shard-0000-of-0001.json",
				"out/part-e00000007-s0000-p000-0000.parquet",
				"out/part-e00000007-s0000-p000-0001.parquet",
				"out/part-e00000007-s0000-p000-0002.parquet",
			}, listKeys(t, b, "out/"))
			var got []w1.Event
			for i, wantGroups := range [][]int64{{400, 400, 200}, {400, 400, 200}, {400, 100}} {
				part, groups, f := readFile[w1.Event](t, b, fmt.Sprintf("out/part-e00000007-s0000-p000-%04d.parquet", i))
				require.Equal(t, wantGroups, groups, "file %d: row groups capped at RowGroupRows", i)
				require.Equal(t, format.Zstd, f.Metadata().RowGroups[0].Columns[0].MetaData.Codec, "zstd by default")
				got = append(got, part...)
			}
			require.Equal(t, rows, got)
		})
	}
}

func TestSinkRollsFilesBySize(t *testing.T) {
	b := backends(t)[0]
	rows := events(0, 20000)
	sink, err := parquetio.NewSink(parquetio.WriteConfig[w1.Event]{URL: b.URL("out/"), Logger: quiet,
		MaxFileBytes: 40000, RowGroupRows: 2048, Codec: parquetio.Snappy})
	require.NoError(t, err)
	commitAll(t, sink, globalElems(rows), pipeline.Epoch{ID: 1, Watermark: pipeline.MaxTime, Final: true})
	var files []string
	for _, k := range listKeys(t, b, "out/part-") {
		files = append(files, k)
	}
	require.Greater(t, len(files), 3)
	var got []w1.Event
	for i, k := range files {
		require.Equal(t, fmt.Sprintf("out/part-e00000001-s0000-p000-%04d.parquet", i), k)
		part, _, f := readFile[w1.Event](t, b, k)
		require.Equal(t, format.Snappy, f.Metadata().RowGroups[0].Columns[0].MetaData.Codec)
		if i < len(files)-1 {
			require.GreaterOrEqual(t, f.Size(), int64(40000)/2, "files roll near MaxFileBytes, not earlier")
			require.Less(t, f.Size(), int64(40000)*2, "and not much later")
		}
		got = append(got, part...)
	}
	require.Equal(t, rows, got)
}

// windowed returns the W1 events of [from, from+n) as elements of their minute window, in pane pane.
func windowed(from, n int, pane pipeline.Pane) []pipeline.Element[w1.Event] {
	var out []pipeline.Element[w1.Event]
	for _, e := range events(from, n) {
		start := e.Time - e.Time%w1.WindowSize
		out = append(out, pipeline.Element[w1.Event]{Value: e, Time: pipeline.Time(e.Time),
			Window: pipeline.Window{Start: pipeline.Time(start), End: pipeline.Time(start + w1.WindowSize)}, Pane: pane})
	}
	return out
}

var (
	early  = pipeline.Pane{Index: 0, NonSpeculativeIndex: -1, Timing: pipeline.Early, First: true}
	onTime = pipeline.Pane{Index: 1, NonSpeculativeIndex: 0, Timing: pipeline.OnTime, Last: true}
	// w1Min is the end of W1's first minute window, 2016-09-21T18:31:00Z.
	w1Min = pipeline.Time(w1.BaseTime + w1.WindowSize)
)

func TestSinkWritesOneFileSetPerWindowPane(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			sink, err := parquetio.NewSink(parquetio.WriteConfig[w1.Event]{URL: b.URL("win/"), S3: b.s3, Logger: quiet})
			require.NoError(t, err)
			// W1 events 0..89999 span 18:29:58 to 18:31:29: windows 18:29, 18:30 and 18:31.
			elems := append(windowed(0, 90000, early), windowed(0, 90000, onTime)...)
			commitAll(t, sink, elems, pipeline.Epoch{ID: 3, Watermark: w1Min})
			require.Equal(t, []string{
				"win/_kappa/default/shard-0000-of-0001.json",
				"win/window_start=20160921T182900Z/_SUCCESS",
				"win/window_start=20160921T182900Z/part-e00000003-s0000-p000-0000.parquet",
				"win/window_start=20160921T182900Z/part-e00000003-s0000-p001-0000.parquet",
				"win/window_start=20160921T183000Z/_SUCCESS",
				"win/window_start=20160921T183000Z/part-e00000003-s0000-p000-0000.parquet",
				"win/window_start=20160921T183000Z/part-e00000003-s0000-p001-0000.parquet",
				"win/window_start=20160921T183100Z/part-e00000003-s0000-p000-0000.parquet",
				"win/window_start=20160921T183100Z/part-e00000003-s0000-p001-0000.parquet",
			}, listKeys(t, b, "win/"), "the watermark 18:31 finalises windows 18:29 and 18:30 only")
			want := 0
			for _, e := range events(0, 90000) {
				if e.Time >= w1.BaseTime && e.Time < w1.BaseTime+w1.WindowSize {
					want++
				}
			}
			for _, pane := range []string{"p000", "p001"} {
				got, _, _ := readFile[w1.Event](t, b, "win/window_start=20160921T183000Z/part-e00000003-s0000-"+pane+"-0000.parquet")
				require.Equal(t, want, len(got))
				for _, e := range got {
					require.Equal(t, int64(w1.BaseTime), e.Time-e.Time%w1.WindowSize)
				}
			}
		})
	}
}

// tokenFiles decodes the final names from a commit token (a JSON document; opaque to the runner).
func tokenFiles(t testing.TB, tok []byte) []string {
	var v struct {
		Files []struct {
			Staged, Final string
		}
	}
	require.NoError(t, json.Unmarshal(tok, &v))
	var out []string
	for _, f := range v.Files {
		out = append(out, f.Final)
	}
	return out
}

func TestSinkCommitIsIdempotentAndAReplayReplaces(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			cfg := parquetio.WriteConfig[w1.Event]{URL: b.URL("exact/"), S3: b.s3, Logger: quiet, MaxFileRows: 700}
			sink, err := parquetio.NewSink(cfg)
			require.NoError(t, err)
			shard := pipeline.Shard{Index: 0, Count: 1}
			epoch := pipeline.Epoch{ID: 1, Watermark: pipeline.MaxTime, Final: true}

			// Writer A stages epoch 1, then the process dies before the checkpoint is durable: no Commit, no Close.
			a, err := sink.Open(ctx, shard)
			require.NoError(t, err)
			require.NoError(t, a.Write(ctx, globalElems(events(0, 1000))))
			tokA, err := a.Prepare(ctx, epoch)
			require.NoError(t, err)
			require.Len(t, listKeys(t, b, "exact/_staging/"), 2, "two staged files")
			src, err := parquetio.NewSource(parquetio.ReadConfig[w1.Event]{URL: b.URL("exact/"), S3: b.s3, Logger: quiet})
			require.NoError(t, err)
			_, err = src.Splits(ctx)
			require.EqualError(t, err, "parquetio: "+b.URL("exact/")+": no input: no objects match (2 hidden objects such as _SUCCESS skipped)",
				"staged files are invisible to readers")

			// After the restart writer B replays epoch 1 and commits it.
			sink, err = parquetio.NewSink(cfg)
			require.NoError(t, err)
			bw, err := sink.Open(ctx, shard)
			require.NoError(t, err)
			require.NoError(t, bw.Write(ctx, globalElems(events(0, 1000))))
			tokB, err := bw.Prepare(ctx, epoch)
			require.NoError(t, err)
			require.Equal(t, tokenFiles(t, tokA), tokenFiles(t, tokB), "final names are deterministic")
			require.NoError(t, bw.Commit(ctx, tokB))
			require.Empty(t, listKeys(t, b, "exact/_staging/"), "the commit removed A's orphaned staged files")
			require.NoError(t, bw.Commit(ctx, tokB), "a second Commit is a no-op")
			c, err := sink.Open(ctx, shard)
			require.NoError(t, err)
			require.NoError(t, c.Commit(ctx, tokB), "so is a Commit on a writer opened after another restart")
			require.NoError(t, c.Close(ctx))
			require.NoError(t, bw.Close(ctx))
			require.Equal(t, []string{"exact/_SUCCESS", "exact/_kappa/default/shard-0000-of-0001.json",
				"exact/part-e00000001-s0000-p000-0000.parquet", "exact/part-e00000001-s0000-p000-0001.parquet"},
				listKeys(t, b, "exact/"))

			// A replay of epoch 1 with other data replaces the files instead of adding to them.
			commitAll(t, sink, globalElems(events(5000, 900)), epoch)
			src, err = parquetio.NewSource(parquetio.ReadConfig[w1.Event]{URL: b.URL("exact/"), S3: b.s3, Logger: quiet})
			require.NoError(t, err)
			d, err := drain[w1.Event](t, src, pipeline.Limits{})
			require.NoError(t, err)
			require.Equal(t, events(5000, 900), d.values)

			// Commit fails loudly when the data is gone.
			require.NoError(t, b.store.Delete(ctx, b.Key("exact/part-e00000001-s0000-p000-0000.parquet")))
			err = c.Commit(ctx, tokB)
			var staged string
			var tv struct{ Files []struct{ Staged string } }
			require.NoError(t, json.Unmarshal(tokB, &tv))
			staged = tv.Files[0].Staged
			require.EqualError(t, err, fmt.Sprintf("parquetio: %s: commit epoch 1: staged file %s and final file %s are both missing",
				b.URL("exact/"), b.store.URL(staged), b.URL("exact/part-e00000001-s0000-p000-0000.parquet")))
			require.EqualError(t, c.Commit(ctx, []byte("garbage")), `parquetio: `+b.URL("exact/")+`: commit: not a parquetio token: "garbage"`)
		})
	}
}

func TestSinkCloseDiscardsUnpreparedFiles(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			sink, err := parquetio.NewSink(parquetio.WriteConfig[w1.Event]{URL: b.URL("discard/"), S3: b.s3, Logger: quiet, MaxFileRows: 300})
			require.NoError(t, err)
			w, err := sink.Open(ctx, pipeline.Shard{Index: 0, Count: 1})
			require.NoError(t, err)
			require.NoError(t, w.Write(ctx, globalElems(events(0, 1000))))
			require.Len(t, listKeys(t, b, "discard/"), 3, "three full files are staged, the fourth is open")
			require.NoError(t, w.Close(ctx))
			require.Empty(t, listKeys(t, b, "discard/"))
		})
	}
}

func TestSinkMarkersWaitForEveryShard(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			sink, err := parquetio.NewSink(parquetio.WriteConfig[w1.Event]{URL: b.URL("shards/"), S3: b.s3, Logger: quiet})
			require.NoError(t, err)
			w0, err := sink.Open(ctx, pipeline.Shard{Index: 0, Count: 2})
			require.NoError(t, err)
			w1w, err := sink.Open(ctx, pipeline.Shard{Index: 1, Count: 2})
			require.NoError(t, err)
			// Shard 0 writes windows 18:30 and 18:31; shard 1 only 18:31.
			require.NoError(t, w0.Write(ctx, windowed(1000, 80000, onTime)))
			require.NoError(t, w1w.Write(ctx, windowed(61000, 20000, onTime)))
			first, second := "shards/window_start=20160921T183000Z/_SUCCESS", "shards/window_start=20160921T183100Z/_SUCCESS"

			e1 := pipeline.Epoch{ID: 1, Watermark: w1Min}
			t0, err := w0.Prepare(ctx, e1)
			require.NoError(t, err)
			t1, err := w1w.Prepare(ctx, e1)
			require.NoError(t, err)
			require.NoError(t, w0.Commit(ctx, t0))
			require.False(t, exists(t, b, first), "shard 1 has not committed epoch 1 yet")
			require.NoError(t, w1w.Commit(ctx, t1))
			require.True(t, exists(t, b, first), "shard 1 commits last and writes the marker of a folder only shard 0 wrote")
			require.False(t, exists(t, b, second))

			e2 := pipeline.Epoch{ID: 2, Watermark: w1Min, Final: true}
			t0, err = w0.Prepare(ctx, e2)
			require.NoError(t, err)
			t1, err = w1w.Prepare(ctx, e2)
			require.NoError(t, err)
			require.NoError(t, w1w.Commit(ctx, t1))
			require.False(t, exists(t, b, second), "shard 0 is still at watermark 18:31")
			require.NoError(t, w0.Commit(ctx, t0))
			require.True(t, exists(t, b, second), "the final epoch finalises every folder")
			require.False(t, exists(t, b, "shards/_SUCCESS"), "no element went to the top folder")
		})
	}
}

func TestSinkMarkersHonourAllowedLateness(t *testing.T) {
	ctx := context.Background()
	b := backends(t)[0]
	sink, err := parquetio.NewSink(parquetio.WriteConfig[w1.Event]{URL: b.URL("late/"), Logger: quiet, AllowedLateness: 30 * time.Second})
	require.NoError(t, err)
	w, err := sink.Open(ctx, pipeline.Shard{Index: 0, Count: 1})
	require.NoError(t, err)
	require.NoError(t, w.Write(ctx, windowed(1000, 10000, onTime)))
	marker := "late/window_start=20160921T183000Z/_SUCCESS"
	for i, tc := range []struct {
		watermark pipeline.Time
		want      bool
	}{{w1Min, false}, {w1Min + 29999, false}, {w1Min + 30000, true}} {
		tok, err := w.Prepare(ctx, pipeline.Epoch{ID: uint64(i + 1), Watermark: tc.watermark})
		require.NoError(t, err)
		require.NoError(t, w.Commit(ctx, tok))
		require.Equal(t, tc.want, exists(t, b, marker), "watermark %s", tc.watermark)
	}
}

func TestSinkMarkersSurviveARestart(t *testing.T) {
	ctx := context.Background()
	b := backends(t)[0]
	cfg := parquetio.WriteConfig[w1.Event]{URL: b.URL("restart/"), Logger: quiet}
	sink, err := parquetio.NewSink(cfg)
	require.NoError(t, err)
	w, err := sink.Open(ctx, pipeline.Shard{Index: 0, Count: 1})
	require.NoError(t, err)
	require.NoError(t, w.Write(ctx, windowed(1000, 10000, onTime)))
	tok, err := w.Prepare(ctx, pipeline.Epoch{ID: 1, Watermark: pipeline.Time(w1.BaseTime)})
	require.NoError(t, err)
	// Crash before Commit; the runner commits the durable token with a new writer, which learns the pending
	// folder from the token and writes its marker once the watermark passes.
	sink, err = parquetio.NewSink(cfg)
	require.NoError(t, err)
	w2, err := sink.Open(ctx, pipeline.Shard{Index: 0, Count: 1})
	require.NoError(t, err)
	require.NoError(t, w2.Commit(ctx, tok))
	tok2, err := w2.Prepare(ctx, pipeline.Epoch{ID: 2, Watermark: w1Min})
	require.NoError(t, err)
	require.NoError(t, w2.Commit(ctx, tok2))
	require.True(t, exists(t, b, "restart/window_start=20160921T183000Z/_SUCCESS"))
	require.True(t, exists(t, b, "restart/window_start=20160921T183000Z/part-e00000001-s0000-p001-0000.parquet"))
}

func TestSinkSortsEachRowGroup(t *testing.T) {
	b := backends(t)[0]
	rows := events(0, 1000)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
	sink, err := parquetio.NewSink(parquetio.WriteConfig[w1.Event]{URL: b.URL("sorted/"), Logger: quiet, RowGroupRows: 300,
		SortFunc: func(a, b w1.Event) int { return int(a.Time - b.Time) }})
	require.NoError(t, err)
	commitAll(t, sink, globalElems(rows), pipeline.Epoch{ID: 1, Watermark: pipeline.MaxTime, Final: true})
	got, groups, _ := readFile[w1.Event](t, b, "sorted/part-e00000001-s0000-p000-0000.parquet")
	require.Equal(t, []int64{300, 300, 300, 100}, groups)
	for g := range 4 {
		part := got[g*300 : min(g*300+300, len(got))]
		for i := 1; i < len(part); i++ {
			require.LessOrEqual(t, part[i-1].Time, part[i].Time, "row group %d row %d", g, i)
		}
	}
	require.ElementsMatch(t, rows, got)
}

func TestSinkPartitionsByEventTimeAndReadsBackPruned(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			// Three hours of visits, one per second, archived by event time.
			var elems []pipeline.Element[visit2]
			for i := range 3 * 3600 {
				at := day.Add(18*time.Hour + time.Duration(i)*time.Second)
				elems = append(elems, pipeline.Element[visit2]{Value: visit2{Key: "k", Value: int64(i), Time: at.UnixMilli()},
					Time: pipeline.TimeOf(at), Window: pipeline.GlobalWindow, Pane: pipeline.NoFiringPane})
			}
			sink, err := parquetio.NewSink(parquetio.WriteConfig[visit2]{URL: b.URL("byhour/"), S3: b.s3, Logger: quiet,
				PartitionByEventTime: true, FolderLayout: "dt=2006-01-02/hour=15"})
			require.NoError(t, err)
			commitAll(t, sink, elems, pipeline.Epoch{ID: 1, Watermark: pipeline.TimeOf(day.Add(20 * time.Hour))})
			require.Equal(t, []string{
				"byhour/_kappa/default/shard-0000-of-0001.json",
				"byhour/dt=2016-09-21/hour=18/_SUCCESS",
				"byhour/dt=2016-09-21/hour=18/part-e00000001-s0000-p000-0000.parquet",
				"byhour/dt=2016-09-21/hour=19/_SUCCESS",
				"byhour/dt=2016-09-21/hour=19/part-e00000001-s0000-p000-0000.parquet",
				"byhour/dt=2016-09-21/hour=20/part-e00000001-s0000-p000-0000.parquet",
			}, listKeys(t, b, "byhour/"), "hour 20 is not final at watermark 20:00")

			src, err := parquetio.NewSource(parquetio.ReadConfig[visit2]{URL: b.URL("byhour/"), S3: b.s3, Logger: quiet,
				TimeColumn: "time", From: day.Add(19 * time.Hour), To: day.Add(20 * time.Hour),
				TimePartitions: []parquetio.TimePartition{{Key: "dt", Layout: "2006-01-02"}, {Key: "hour", Layout: "15"}}})
			require.NoError(t, err)
			d, err := drain[visit2](t, src, pipeline.Limits{})
			require.NoError(t, err)
			require.Len(t, d.values, 3600)
			require.Equal(t, int64(3600), d.values[0].Value)
			require.Equal(t, 2, src.Stats().FilesPruned)
		})
	}
}
