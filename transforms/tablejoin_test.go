package transforms_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

type (
	tjChange = transforms.KV[string, transforms.Change[string]]
	tjRec    = transforms.KV[string, int]
	tjOut    = transforms.KV[string, transforms.TableJoined[int, string]]
)

func tset(k, v string, ms int64) pipelinetest.Timed[tjChange] {
	return pipelinetest.AtMillis(tjChange{Key: k, Value: transforms.Change[string]{Value: v}}, ms)
}

func tdel(k string, ms int64) pipelinetest.Timed[tjChange] {
	return pipelinetest.AtMillis(tjChange{Key: k, Value: transforms.Change[string]{Delete: true}}, ms)
}

func trec(k string, v int, ms int64) pipelinetest.Timed[tjRec] {
	return pipelinetest.AtMillis(tjRec{Key: k, Value: v}, ms)
}

// formatJoined renders a join result with its timestamp and window, so tests check both.
func formatJoined(s pipeline.Scope, col pipeline.PCollection[tjOut]) pipeline.PCollection[string] {
	return transforms.ParDo(s, col, transforms.DoFunc[tjOut, string](func(_ context.Context, e pipeline.Element[tjOut], emit transforms.Emitter[string]) error {
		j := e.Value.Value
		tab := "-"
		if j.Found {
			tab = j.Table
		}
		global := e.Window == pipeline.GlobalWindow
		emit.Emit(fmt.Sprintf("%s@%d %d→%s global=%v", e.Value.Key, int64(e.Time), j.Value, tab, global))
		return nil
	}))
}

// Each record sees the version valid at its event time — not the latest one, even when later updates were read
// first — tombstones delete, and a record exactly at an update's time sees that update. Inner joins drop
// records without a value; left joins keep them. The same in batch and stream, on 1 to 4 workers.
func TestTableJoinSeesVersionValidAtEventTime(t *testing.T) {
	table := []pipelinetest.Timed[tjChange]{
		tset("a", "a1", 100), tset("b", "b1", 150), tset("a", "a2", 200), tdel("a", 300), tset("a", "a3", 400),
	}
	stream := []pipelinetest.Timed[tjRec]{
		trec("a", 1, 50), trec("a", 2, 100), trec("b", 3, 120), trec("a", 4, 199), trec("b", 5, 151),
		trec("a", 6, 250), trec("a", 7, 350), trec("a", 8, 400), trec("c", 9, 500), trec("a", 10, 1000),
	}
	inner := []string{"a@100 2→a1 global=true", "a@199 4→a1 global=true", "b@151 5→b1 global=true",
		"a@250 6→a2 global=true", "a@400 8→a3 global=true", "a@1000 10→a3 global=true"}
	left := append(slices.Clone(inner), "a@50 1→- global=true", "b@120 3→- global=true", "a@350 7→- global=true",
		"c@500 9→- global=true")
	for _, tc := range []struct {
		name string
		join func(pipeline.Scope, pipeline.PCollection[tjRec], pipeline.PCollection[tjChange], ...transforms.Option) pipeline.PCollection[tjOut]
		want []string
	}{
		{"inner", transforms.TableJoin[string, int, string], inner},
		{"left", transforms.LeftTableJoin[string, int, string], left},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachMode(t, allModes, func(s pipeline.Scope) {
				st := pipeline.Read(s, pipelinetest.Source(stream, 1), pipeline.ReadName("stream"))
				tb := pipeline.Read(s, pipelinetest.Source(table, 1), pipeline.ReadName("table"))
				pipelinetest.Equals(s, formatJoined(s, tc.join(s, st, tb)), tc.want...)
			})
		})
	}
}

// Joined records are on time for the windows downstream: a record 1 ms before a window's end, released by the
// timer at the window's end, is counted in its window, on every runner (on Beam the timer firing at the end
// must not let the windows downstream close before the record it releases arrives there).
func TestTableJoinThenWindow(t *testing.T) {
	var table []pipelinetest.Timed[tjChange]
	var stream []pipelinetest.Timed[tjRec]
	for k := range 20 {
		key := fmt.Sprintf("k%02d", k)
		table = append(table, tset(key, "x", 0))
		if k%2 == 1 {
			table = append(table, tset(key, "y", 1000))
		}
		for _, ms := range []int64{999, 1000, 1999, 2999} {
			stream = append(stream, trec(key, k, ms))
		}
	}
	slices.SortStableFunc(stream, func(a, b pipelinetest.Timed[tjRec]) int { return int(a.Time - b.Time) })
	forEachMode(t, allModes, func(s pipeline.Scope) {
		st := pipeline.Read(s, pipelinetest.Source(stream, 1), pipeline.ReadName("stream"))
		tb := pipeline.Read(s, pipelinetest.Source(table, 1), pipeline.ReadName("table"))
		vals := transforms.Map(s, transforms.TableJoin(s, st, tb), func(j tjOut) string { return j.Value.Table })
		counts := transforms.Count(s, windowing.Into(s, vals, windowing.Fixed{Size: time.Second}))
		out := transforms.MapWindowed(s, counts, func(c transforms.KV[string, int64], w pipeline.Window) string {
			return fmt.Sprintf("%s [%d,%d) %d", c.Key, int64(w.Start), int64(w.End), c.Value)
		})
		pipelinetest.Equals(s, out, "x [0,1000) 20", "x [1000,2000) 20", "y [1000,2000) 20", "x [2000,3000) 10",
			"y [2000,3000) 10")
	})
}

// tjEvents is a random workload: table updates (some tombstones) and stream records over a few keys, each side
// in event-time order, with distinct update times per key.
func tjEvents(seed uint64, keys, updates, records int) ([]pipelinetest.Timed[tjChange], []pipelinetest.Timed[tjRec]) {
	rng := rand.New(rand.NewPCG(seed, 1))
	var table []pipelinetest.Timed[tjChange]
	used := map[string]map[int64]bool{}
	for i := range updates {
		k := fmt.Sprintf("k%02d", rng.IntN(keys))
		at := rng.Int64N(100_000)
		if used[k] == nil {
			used[k] = map[int64]bool{}
		}
		if used[k][at] {
			continue
		}
		used[k][at] = true
		if rng.IntN(5) == 0 {
			table = append(table, tdel(k, at))
		} else {
			table = append(table, tset(k, fmt.Sprintf("v%d", i), at))
		}
	}
	var stream []pipelinetest.Timed[tjRec]
	for i := range records {
		stream = append(stream, trec(fmt.Sprintf("k%02d", rng.IntN(keys+2)), i, rng.Int64N(110_000)))
	}
	slices.SortStableFunc(table, func(a, b pipelinetest.Timed[tjChange]) int { return int(a.Time - b.Time) })
	slices.SortStableFunc(stream, func(a, b pipelinetest.Timed[tjRec]) int { return int(a.Time - b.Time) })
	return table, stream
}

// tjReference computes a left table join in plain Go: for each record, the latest update of its key at or
// before its time.
func tjReference(table []pipelinetest.Timed[tjChange], stream []pipelinetest.Timed[tjRec]) []string {
	byKey := map[string][]pipelinetest.Timed[tjChange]{}
	for _, u := range table {
		byKey[u.Value.Key] = append(byKey[u.Value.Key], u)
	}
	var out []string
	for _, r := range stream {
		us := byKey[r.Value.Key]
		i := sort.Search(len(us), func(i int) bool { return us[i].Time > r.Time })
		tab := "-"
		if i > 0 && !us[i-1].Value.Value.Delete {
			tab = us[i-1].Value.Value.Value
		}
		out = append(out, fmt.Sprintf("%s@%d %d→%s global=true", r.Value.Key, int64(r.Time), r.Value.Value, tab))
	}
	slices.Sort(out)
	return out
}

// Batch ≡ stream: a random workload gives the plain-Go answer in batch and in stream mode with random micro-batch
// sizes, on 1, 2 and 4 workers, and nothing is dropped as late.
func TestTableJoinBatchEqualsStream(t *testing.T) {
	table, stream := tjEvents(7, 20, 3000, 5000)
	want := tjReference(table, stream)
	rng := rand.New(rand.NewPCG(11, 2))
	for _, mode := range []local.Mode{local.Batch, local.Stream} {
		for _, workers := range []int{1, 2, 4} {
			batch := 1 + rng.IntN(300)
			if pipelinetest.RunnerName() != "local" && (mode != local.Batch || workers != 1) {
				continue // another runner ignores local.Config: one run is enough there
			}
			t.Run(fmt.Sprintf("%s/workers=%d/batch=%d", mode, workers, batch), func(t *testing.T) {
				p := pipeline.New()
				s := p.Root()
				st := pipeline.Read(s, pipelinetest.Source(stream, 1), pipeline.ReadName("stream"))
				tb := pipeline.Read(s, pipelinetest.Source(table, 1), pipeline.ReadName("table"))
				res := pipelinetest.Collect(s, formatJoined(s, transforms.LeftTableJoin(s, st, tb)))
				r := pipelinetest.Run(t, p, local.Config{Workers: workers, Mode: mode, BatchRecords: batch, Logger: quiet})
				require.Empty(t, r.Stats().Late)
				got := res.Values()
				slices.Sort(got)
				require.Equal(t, want, got)
			})
		}
	}
}

// Under a 1-byte state budget every key's versions and waiting records are spilled after each micro-batch, and
// the join still gives the plain-Go answer.
func TestTableJoinSpillsUnderBudget(t *testing.T) {
	table, stream := tjEvents(3, 200, 4000, 4000)
	want := tjReference(table, stream)
	for _, mode := range []local.Mode{local.Batch, local.Stream} {
		t.Run(mode.String(), func(t *testing.T) {
			p := pipeline.New()
			s := p.Root()
			st := pipeline.Read(s, pipelinetest.Source(stream, 1), pipeline.ReadName("stream"))
			tb := pipeline.Read(s, pipelinetest.Source(table, 1), pipeline.ReadName("table"))
			res := pipelinetest.Collect(s, formatJoined(s, transforms.LeftTableJoin(s, st, tb)))
			r := pipelinetest.Run(t, p, local.Config{Workers: 2, Mode: mode, BatchRecords: 200, StateMemory: 1,
				SpillDir: t.TempDir(), Logger: quiet})
			require.Greater(t, r.Stats().Spilled, int64(100))
			got := res.Values()
			slices.Sort(got)
			require.Equal(t, want, got)
		})
	}
}

// tickClock is a fake processing-time clock that advances by step on every reading.
type tickClock struct {
	t    atomic.Int64
	step time.Duration
}

func (c *tickClock) Now() time.Time {
	return time.UnixMilli(0).Add(time.Duration(c.t.Add(int64(c.step))))
}

// tjFeed sends the workload through unbounded feeds (one split per side), so stream runs checkpoint.
func tjFeeds(table []pipelinetest.Timed[tjChange], stream []pipelinetest.Timed[tjRec]) (*pipelinetest.Feed[tjChange], *pipelinetest.Feed[tjRec]) {
	tf, sf := pipelinetest.NewFeed[tjChange](), pipelinetest.NewFeed[tjRec]()
	tf.Send("0", table...)
	sf.Send("0", stream...)
	return tf, sf
}

// A stream run that crashes mid-way and restarts from its checkpoint gives exactly the plain-Go answer: the
// table versions and the waiting records are restored, nothing is joined twice or lost.
func TestTableJoinCheckpointRestore(t *testing.T) {
	table, stream := tjEvents(5, 50, 4000, 6000)
	want := tjReference(table, stream)
	for _, spill := range []bool{false, true} {
		t.Run(fmt.Sprintf("spill=%v", spill), func(t *testing.T) {
			store := local.DirStore(t.TempDir())
			res := pipelinetest.NewResult[string]()
			tf, sf := tjFeeds(table, stream)
			run := func(crashAt int64) error {
				var seen atomic.Int64
				p := pipeline.New()
				s := p.Root()
				st := pipeline.Read(s, pipeline.Source[tjRec](sf), pipeline.ReadName("stream"), pipeline.IdleTimeout(time.Second))
				tb := pipeline.Read(s, pipeline.Source[tjChange](tf), pipeline.ReadName("table"), pipeline.IdleTimeout(time.Second))
				st = transforms.Map(s, st, func(r tjRec) tjRec {
					if crashAt > 0 && seen.Add(1) == crashAt {
						panic("injected crash")
					}
					return r
				})
				pipeline.Write(s, formatJoined(s, transforms.LeftTableJoin(s, st, tb)), pipeline.Sink[string](res))
				clock := &tickClock{step: 50 * time.Millisecond}
				cfg := local.Config{Mode: local.Stream, Workers: 2, Now: clock.Now, EpochInterval: 500 * time.Millisecond,
					BatchRecords: 150, BatchWait: time.Millisecond, StopWhenIdle: 3 * time.Second, Checkpoints: store, Logger: quiet}
				if spill {
					cfg.StateMemory, cfg.SpillDir = 1, t.TempDir()
				}
				return local.New(cfg).Run(context.Background(), p)
			}
			err := run(int64(len(stream) / 2))
			require.ErrorContains(t, err, "injected")
			before := len(res.Values())
			require.Greater(t, before, 0, "the crashed run should have committed some epochs")
			require.Less(t, before, len(want))
			require.NoError(t, run(0))
			got := res.Values()
			slices.Sort(got)
			require.Equal(t, want, got)
		})
	}
}

// BenchmarkTableJoin joins b.N stream records with b.N/4 table updates over 10000 keys, in stream mode on 2
// workers; it reports records per second.
func BenchmarkTableJoin(b *testing.B) {
	table, stream := tjEvents(1, 10000, max(b.N/4, 1), b.N)
	p := pipeline.New()
	s := p.Root()
	st := pipeline.Read(s, pipelinetest.Source(stream, 1), pipeline.ReadName("stream"))
	tb := pipeline.Read(s, pipelinetest.Source(table, 1), pipeline.ReadName("table"))
	out := transforms.LeftTableJoin(s, st, tb)
	pipelinetest.Collect(s, transforms.Filter(s, out, func(tjOut) bool { return false })) // measure the join, not a sink
	b.ResetTimer()
	start := time.Now()
	if err := local.New(local.Config{Workers: 2, Mode: local.Stream, Logger: quiet}).Run(context.Background(), p); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
}
