package transforms_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/pipelinetest/teststream"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

type sideEvent struct {
	Key string
	N   int64
}

// sideEvents are 60 events over three minutes, keys a, b, c in turn.
func sideEvents() []pipelinetest.Timed[sideEvent] {
	var out []pipelinetest.Timed[sideEvent]
	for i := range 60 {
		out = append(out, timed(sideEvent{Key: string(rune('a' + i%3)), N: int64(i)}, int64(i)*3000))
	}
	return out
}

// Views of groupings (default trigger: one complete pane per window) and of a small global lookup table give the
// same results in batch and stream mode, with 1 to 4 workers: each main element sees its own minute's total, its
// key's total in that minute, and the name of its key.
func TestSideInputViewsOfGroupingsInEveryMode(t *testing.T) {
	events := sideEvents()
	totals, keyTotals := map[int64]int64{}, map[string]int64{}
	for _, e := range events {
		m := int64(e.Time) / 60000
		totals[m] += e.Value.N
		keyTotals[fmt.Sprint(m, e.Value.Key)] += e.Value.N
	}
	names := map[string]string{"a": "Alpha", "b": "Bravo", "c": "Charlie"}
	var want []string
	for _, e := range events {
		m := int64(e.Time) / 60000
		want = append(want, fmt.Sprintf("%d@%d total=%d key=%d name=%s", e.Value.N, m, totals[m], keyTotals[fmt.Sprint(m, e.Value.Key)], names[e.Value.Key]))
	}
	forEachMode(t, allModes, func(s pipeline.Scope) {
		ev := windowing.Into(s, pipelinetest.CreateTimed(s, events...), windowing.Fixed{Size: time.Minute})
		nums := transforms.Map(s, ev, func(e sideEvent) int64 { return e.N })
		total := transforms.AsSingleton(s, transforms.Sum(s, nums))
		perKey := transforms.AsMap(s, transforms.SumPerKey(s, transforms.Map(s, ev, func(e sideEvent) transforms.KV[string, int64] {
			return pair(e.Key, e.N)
		})))
		lookup := transforms.AsMap(s, pipelinetest.Create(s, pair("a", "Alpha"), pair("b", "Bravo"), pair("c", "Charlie")))
		out := transforms.ParDoWithSide(s, ev, transforms.SideDoFunc[sideEvent, string](func(_ context.Context, e pipeline.Element[sideEvent], side transforms.Side, emit transforms.Emitter[string]) error {
			tot, ok := total.Get(side)
			if !ok {
				return fmt.Errorf("no total for %v", e.Window)
			}
			k, _ := perKey.Lookup(side, e.Value.Key)
			name, _ := lookup.Lookup(side, e.Value.Key)
			emit.Emit(fmt.Sprintf("%d@%d total=%d key=%d name=%s", e.Value.N, int64(e.Window.Start)/60000, tot, k, name))
			return nil
		}), total, perKey, lookup)
		pipelinetest.Equals(s, out, want...)
	})
}

// In batch mode a main element waits for its side window to be complete, whatever the side collection is: here
// raw elements read from four splits, viewed per one-minute window (AsIter, AsMultiMap), per five-minute window
// (the main minute maps to the five minutes containing it), and per two-minute window sliding by a minute (the
// main minute maps to the latest window containing its end).
func TestSideInputBatchSeesCompleteWindows(t *testing.T) {
	var side []pipelinetest.Timed[transforms.KV[string, int64]]
	for i := range 200 {
		side = append(side, timed(pair(string(rune('x'+i%2)), int64(i)), int64(i)*1500)) // 5 minutes
	}
	sum := func(lo, hi int64) (n, s int64) {
		for _, e := range side {
			if int64(e.Time) >= lo && int64(e.Time) < hi {
				n++
				s += e.Value.Value
			}
		}
		return n, s
	}
	var main []pipelinetest.Timed[int]
	var want []string
	for m := range 5 {
		main = append(main, timed(m, int64(m)*60000+30000))
		lo := int64(m) * 60000
		n1, s1 := sum(lo, lo+60000)
		_, s5 := sum(0, 300000)
		_, s2 := sum(lo, lo+120000)
		nx := 0
		for _, e := range side {
			if int64(e.Time) >= lo && int64(e.Time) < lo+60000 && e.Value.Key == "x" {
				nx++
			}
		}
		want = append(want, fmt.Sprintf("minute %d: n=%d sum=%d x=%d five=%d sliding=%d", m, n1, s1, nx, s5, s2))
	}
	forEachMode(t, batchModes, func(s pipeline.Scope) {
		raw := pipelinetest.CreateTimed(s, side...)
		perMinute := windowing.Into(s, raw, windowing.Fixed{Size: time.Minute})
		it := transforms.AsIter(s, perMinute)
		mm := transforms.AsMultiMap(s, perMinute)
		five := transforms.AsIter(s, windowing.Into(s, raw, windowing.Fixed{Size: 5 * time.Minute}))
		sliding := transforms.AsIter(s, windowing.Into(s, raw, windowing.Sliding{Size: 2 * time.Minute, Period: time.Minute}))
		mainW := windowing.Into(s, pipelinetest.CreateTimed(s, main...), windowing.Fixed{Size: time.Minute})
		out := transforms.MapWithSide(s, mainW, func(m int, side transforms.Side) string {
			var n, total int64
			for kv := range it.Get(side) {
				n++
				total += kv.Value
			}
			sumOf := func(v transforms.IterView[transforms.KV[string, int64]]) (x int64) {
				for kv := range v.Get(side) {
					x += kv.Value
				}
				return x
			}
			return fmt.Sprintf("minute %d: n=%d sum=%d x=%d five=%d sliding=%d", m, n, total, len(mm.Lookup(side, "x")), sumOf(five), sumOf(sliding))
		}, it, mm, five, sliding)
		pipelinetest.Equals(s, out, want...)
	})
}

// In stream mode a main element waits only for its side window to have data, and then sees the window as it is:
// the latest pane. The main element x arrives before any side data and is held; the main watermark moves on, but
// x's hold keeps the watermark downstream behind it, so the per-minute count after the side input still counts it
// (nothing late). a sees v1, which arrives in its micro-batch; b sees v2.
func TestSideInputStreamLatestPaneAndHold(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 1, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	mainTS := teststream.New[string](t0).
		AddElements(teststream.At("x", at(10*time.Second))).
		AdvanceWatermark(at(5 * time.Minute)).
		AddElements(teststream.At("a", at(5*time.Minute+10*time.Second))).
		AddElements(teststream.At("b", at(5*time.Minute+20*time.Second))).
		AdvanceWatermark(at(10 * time.Minute))
	sideTS := teststream.NewWithClock[string](mainTS.Clock()).
		AdvanceWatermark(at(5 * time.Minute)).
		AdvanceProcessingTime(0).
		AddElements(teststream.At("v1", at(5*time.Minute))).
		AddElements(teststream.At("v2", at(5*time.Minute)))
	p := pipeline.New()
	s := p.Root()
	cfg := transforms.AsSingleton(s, teststream.Read(s.Scope("side"), sideTS))
	main := windowing.Into(s, teststream.Read(s.Scope("main"), mainTS), windowing.Fixed{Size: time.Minute})
	seen := transforms.MapWithSide(s, main, func(v string, side transforms.Side) string {
		c, ok := cfg.Get(side)
		if !ok {
			return v + " saw nothing"
		}
		return v + " saw " + c
	}, cfg)
	pipelinetest.EqualsElements(s, seen,
		pipeline.Element[string]{Value: "x saw v1", Time: pipeline.TimeOf(at(10 * time.Second)), Window: pipeline.Window{Start: pipeline.TimeOf(t0), End: pipeline.TimeOf(at(time.Minute))}, Pane: pipeline.NoFiringPane},
		pipeline.Element[string]{Value: "a saw v1", Time: pipeline.TimeOf(at(5*time.Minute + 10*time.Second)), Window: pipeline.Window{Start: pipeline.TimeOf(at(5 * time.Minute)), End: pipeline.TimeOf(at(6 * time.Minute))}, Pane: pipeline.NoFiringPane},
		pipeline.Element[string]{Value: "b saw v2", Time: pipeline.TimeOf(at(5*time.Minute + 20*time.Second)), Window: pipeline.Window{Start: pipeline.TimeOf(at(5 * time.Minute)), End: pipeline.TimeOf(at(6 * time.Minute))}, Pane: pipeline.NoFiringPane},
	)
	counts := transforms.CountAll(s, seen)
	pipelinetest.Equals(s, counts, 1, 2)
	r := pipelinetest.Run(t, p, teststream.Config(mainTS.Clock(), 2))
	require.Empty(t, r.Stats().Late, "the held element x must not be late downstream")
}

// The same windowed side input read in stream mode and in batch mode: in stream mode the first main element sees
// the part of its side window that has arrived (the latest pane), in batch mode both see the complete window.
func TestSideInputStreamVersusBatch(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 1, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	build := func(s pipeline.Scope, side, main pipeline.PCollection[string]) pipeline.PCollection[string] {
		v := transforms.AsIter(s, windowing.Into(s, side, windowing.Fixed{Size: time.Minute}))
		m := windowing.Into(s, main, windowing.Fixed{Size: time.Minute})
		return transforms.MapWithSide(s, m, func(x string, side transforms.Side) string {
			got := slices.Sorted(v.Get(side))
			return x + " saw " + strings.Join(got, ",")
		}, v)
	}
	t.Run("stream", func(t *testing.T) {
		mainTS := teststream.New[string](t0).
			AddElements(teststream.At("m1", at(30*time.Second))).
			AddElements(teststream.At("m2", at(40*time.Second)))
		sideTS := teststream.NewWithClock[string](mainTS.Clock()).
			AddElements(teststream.At("s1", at(10*time.Second))).
			AddElements(teststream.At("s2", at(20*time.Second)))
		p := pipeline.New()
		s := p.Root()
		out := build(s, teststream.Read(s.Scope("side"), sideTS), teststream.Read(s.Scope("main"), mainTS))
		pipelinetest.Equals(s, out, "m1 saw s1", "m2 saw s1,s2")
		teststream.Run(t, p, mainTS.Clock())
	})
	t.Run("batch", func(t *testing.T) {
		p := pipeline.New()
		s := p.Root()
		out := build(s, pipelinetest.CreateTimed(s, pipelinetest.At("s1", at(10*time.Second)), pipelinetest.At("s2", at(20*time.Second))),
			pipelinetest.CreateTimed(s, pipelinetest.At("m1", at(30*time.Second)), pipelinetest.At("m2", at(40*time.Second))))
		pipelinetest.Equals(s, out, "m1 saw s1,s2", "m2 saw s1,s2")
		pipelinetest.Run(t, p, local.Config{Workers: 2, Logger: quiet})
	})
}

// Later panes supersede earlier ones: a side input fed by a grouping with early firings (accumulating) is seen
// at its latest pane, per key for AsMap, per window for AsSingleton.
func TestSideInputLatestPaneOfEarlyFirings(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 1, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	sideTS := teststream.New[transforms.KV[string, int64]](t0).
		AddElements(teststream.At(pair("a", int64(1)), at(time.Second)), teststream.At(pair("b", int64(10)), at(time.Second))).
		AdvanceProcessingTime(time.Minute).
		AddElements(teststream.At(pair("a", int64(2)), at(2*time.Second))).
		AdvanceProcessingTime(time.Minute)
	mainTS := teststream.NewWithClock[string](sideTS.Clock()).
		AdvanceProcessingTime(0).
		AddElements(teststream.At("first", at(time.Second))).
		AdvanceProcessingTime(0).
		AdvanceProcessingTime(0).
		AddElements(teststream.At("second", at(time.Second)))
	p := pipeline.New()
	s := p.Root()
	acc := windowing.Into(s, teststream.Read(s.Scope("side"), sideTS), windowing.Global{},
		windowing.WithTrigger(windowing.Repeatedly{Trigger: windowing.AfterProcessingTime{Delay: time.Second}}), windowing.AccumulatingPanes())
	sums := transforms.AsMap(s, transforms.SumPerKey(s, acc))
	total := transforms.AsSingleton(s, transforms.Sum(s, transforms.Values(s, acc)))
	out := transforms.MapWithSide(s, teststream.Read(s.Scope("main"), mainTS), func(x string, side transforms.Side) string {
		a, _ := sums.Lookup(side, "a")
		b, _ := sums.Lookup(side, "b")
		t, _ := total.Get(side)
		return fmt.Sprintf("%s a=%d b=%d total=%d", x, a, b, t)
	}, sums, total)
	pipelinetest.Equals(s, out, "first a=1 b=10 total=11", "second a=3 b=10 total=13")
	teststream.Run(t, p, sideTS.Clock())
}

// Side-input contents and held main elements are in checkpoints: the first run reads the configuration and the
// first minute's side value, processes the first minute and holds the second minute's elements (their side window
// has no data yet); it is stopped, and the second run — on three workers instead of two — restores both, gets the
// second minute's side value and emits every element exactly once with the restored configuration.
func TestSideInputCheckpointRestore(t *testing.T) {
	store := local.DirStore(t.TempDir())
	cfgFeed := pipelinetest.NewFeed[string]("0")
	minuteFeed := pipelinetest.NewFeed[string]("0")
	mainFeed := pipelinetest.NewFeed[int]("0", "1")
	res := pipelinetest.NewResult[string]()
	build := func() *pipeline.Pipeline {
		p := pipeline.New()
		s := p.Root()
		cfg := transforms.AsSingleton(s, pipeline.Read(s.Scope("config"), pipeline.Source[string](cfgFeed)))
		minute := transforms.AsSingleton(s, windowing.Into(s, pipeline.Read(s.Scope("minute"), pipeline.Source[string](minuteFeed)), windowing.Fixed{Size: time.Minute}))
		main := windowing.Into(s, pipeline.Read(s.Scope("main"), pipeline.Source[int](mainFeed)), windowing.Fixed{Size: time.Minute})
		out := transforms.MapWithSide(s, main, func(v int, side transforms.Side) string {
			c, _ := cfg.Get(side)
			m, _ := minute.Get(side)
			return fmt.Sprintf("%d %s %s", v, c, m)
		}, cfg, minute)
		pipeline.Write(s, out, pipeline.Sink[string](res))
		return p
	}
	cfgFeed.Send("0", timed("cfg-v1", 0))
	minuteFeed.Send("0", timed("minute-0", 0))
	var want []string
	for i := range 9 {
		mainFeed.Send(fmt.Sprint(i%2), timed(i, int64(i)*10000)) // minute 0: 0..5, minute 1: 6..8 (and 9 later)
		m := "minute-0"
		if i >= 6 {
			m = "minute-1"
		}
		want = append(want, fmt.Sprintf("%d cfg-v1 %s", i, m))
	}
	// Feeds are unbounded: the first run is cancelled, the second stops (draining) once its input is idle.
	run := func(ctx context.Context, workers int, idle time.Duration) error {
		r := local.New(local.Config{Mode: local.Stream, Workers: workers, EpochInterval: 20 * time.Millisecond,
			BatchWait: time.Millisecond, StopWhenIdle: idle, Checkpoints: store, Logger: quiet})
		return r.Run(ctx, build())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	go func() {
		for len(res.Values()) < 6 && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond) // a few more micro-batches: nothing else may be emitted
		cancel()
	}()
	require.ErrorIs(t, run(ctx, 2, 0), context.Canceled)
	require.Len(t, res.Values(), 6, "minute 0 emitted, minute 1 held")

	minuteFeed.Send("0", timed("minute-1", 60000))
	mainFeed.Send("1", timed(9, 90000))
	want = append(want, "9 cfg-v1 minute-1")
	for _, f := range []interface{ End(string) }{cfgFeed, minuteFeed} {
		f.End("0")
	}
	mainFeed.End("0")
	mainFeed.End("1")
	require.NoError(t, run(context.Background(), 3, 500*time.Millisecond))
	require.ElementsMatch(t, want, res.Values())
}

// Construction errors name the problem: sessions cannot be side inputs, a global main input cannot read a
// windowed side input, a ParDoWithSide needs views.
func TestSideInputConstructionErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(s pipeline.Scope)
		want  string
	}{
		{"sessions", func(s pipeline.Scope) {
			side := windowing.Into(s, pipelinetest.CreateTimed(s, timed(1, 0)), windowing.Sessions{Gap: time.Minute})
			transforms.AsIter(s, side)
		}, "windowed in sessions"},
		{"global main, windowed side", func(s pipeline.Scope) {
			v := transforms.AsIter(s, windowing.Into(s, pipelinetest.CreateTimed(s, timed(1, 0)), windowing.Fixed{Size: time.Minute}))
			transforms.MapWithSide(s, pipelinetest.Create(s, 1), func(x int, _ transforms.Side) int { return x }, v)
		}, "the main input is in the global window"},
		{"no views", func(s pipeline.Scope) {
			transforms.MapWithSide(s, pipelinetest.Create(s, 1), func(x int, _ transforms.Side) int { return x })
		}, "no side inputs"},
		{"zero view", func(s pipeline.Scope) {
			transforms.MapWithSide(s, pipelinetest.Create(s, 1), func(x int, _ transforms.Side) int { return x }, transforms.MapView[string, int]{})
		}, "not a valid view"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := pipeline.New()
			tc.build(p.Root())
			require.ErrorContains(t, p.Err(), tc.want)
		})
	}
}

// A DoFn that reads a view it was not given fails the run, naming the view; Setup and Teardown are called once per
// worker.
func TestSideInputRunErrorsAndLifecycle(t *testing.T) {
	var setups, teardowns atomic.Int64
	err := runErr(t, local.Config{Workers: 2}, func(s pipeline.Scope) {
		given := transforms.AsIter(s, pipelinetest.Create(s, 1))
		other := transforms.AsIter(s, pipelinetest.Create(s, 2))
		transforms.ParDoWithSide(s, pipelinetest.Create(s, 1, 2, 3), &sideLifecycleFn{setups: &setups, teardowns: &teardowns, read: other}, given)
	})
	require.ErrorContains(t, err, "reads side input AsIter of")
	require.ErrorContains(t, err, "which was not passed to this ParDoWithSide")
	require.Equal(t, int64(2), setups.Load())
	require.Equal(t, int64(2), teardowns.Load())
}

type sideLifecycleFn struct {
	setups, teardowns *atomic.Int64
	read              transforms.IterView[int]
}

func (f *sideLifecycleFn) Setup(context.Context) error    { f.setups.Add(1); return nil }
func (f *sideLifecycleFn) Teardown(context.Context) error { f.teardowns.Add(1); return nil }
func (f *sideLifecycleFn) ProcessElement(_ context.Context, e pipeline.Element[int], side transforms.Side, emit transforms.Emitter[int]) error {
	if f.read.Len(side) < 0 {
		return errors.New("impossible")
	}
	emit.Emit(e.Value)
	return nil
}

// Batch ≡ stream for complete side windows, whatever the micro-batch size: the views-of-groupings pipeline run in
// stream mode on 2 workers with random micro-batch sizes (the seed is logged) gives the batch results.
func TestSideInputRandomMicroBatches(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewPCG(uint64(seed), 0))
	events := sideEvents()
	names := map[string]string{"a": "Alpha", "b": "Bravo", "c": "Charlie"}
	build := func(s pipeline.Scope) pipeline.PCollection[string] {
		ev := windowing.Into(s, pipelinetest.CreateTimed(s, events...), windowing.Fixed{Size: time.Minute})
		total := transforms.AsSingleton(s, transforms.Sum(s, transforms.Map(s, ev, func(e sideEvent) int64 { return e.N })))
		lookup := transforms.AsMap(s, pipelinetest.Create(s, pair("a", "Alpha"), pair("b", "Bravo"), pair("c", "Charlie")))
		return transforms.MapWithSide(s, ev, func(e sideEvent, side transforms.Side) string {
			tot, _ := total.Get(side)
			name, _ := lookup.Lookup(side, e.Key)
			return fmt.Sprintf("%d total=%d name=%s", e.N, tot, name)
		}, total, lookup)
	}
	var want []string
	for _, e := range events {
		var tot int64
		for _, x := range events {
			if int64(x.Time)/60000 == int64(e.Time)/60000 {
				tot += x.Value.N
			}
		}
		want = append(want, fmt.Sprintf("%d total=%d name=%s", e.Value.N, tot, names[e.Value.Key]))
	}
	for i := range 4 {
		cfg := local.Config{Mode: local.Stream, Workers: 2, BatchRecords: 1 + rnd.IntN(20), Logger: quiet}
		if i == 0 {
			cfg = local.Config{Workers: 2, Logger: quiet}
		}
		t.Run(fmt.Sprintf("%s/run=%d", cfg.Mode, i), func(t *testing.T) { // fixed names: runners/beam lists refused tests
			t.Logf("micro-batch size %d", cfg.BatchRecords)
			p := pipeline.New()
			s := p.Root()
			pipelinetest.Equals(s, build(s), want...)
			pipelinetest.Run(t, p, cfg)
		})
	}
}
