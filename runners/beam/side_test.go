package beam_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/pipelinetest/teststream"
	"github.com/kappaflow/kappa/runners/beam"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

// multiset renders elements as sorted lines of value, timestamp, window and pane.
func multiset[T any](es []pipeline.Element[T]) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = fmt.Sprintf("%v @%d %s pane=%+v", e.Value, e.Time, e.Window, e.Pane)
	}
	slices.Sort(out)
	return out
}

type order struct {
	ID       int
	Currency string
	Cents    int64
}

// orders are n orders over ten minutes in four currencies (one of them, XXX, without a name or rates).
func orders(n int) []pipelinetest.Timed[order] {
	cur := []string{"EUR", "GBP", "JPY", "XXX"}
	out := make([]pipelinetest.Timed[order], n)
	for i := range out {
		out[i] = pipelinetest.AtMillis(order{ID: i, Currency: cur[i%len(cur)], Cents: int64(100 + i%977)}, int64(i)*600000/int64(n))
	}
	return out
}

// An AsMap lookup gives the same elements — value, timestamp, window and pane — on runners/local and on Prism:
// orders read from four splits, priced per minute with the minute's rate per currency (an AsMap of a per-minute,
// per-currency aggregate: the latest rate seen in the minute, here the maximum), named with a global lookup table
// (an AsMap of a bounded collection), then counted per currency and minute after the side-input ParDo (a
// grouping downstream of the side-input stage).
func TestSideInputAsMapParityOnPrism(t *testing.T) {
	in := orders(4000)
	build := func() (*pipeline.Pipeline, *pipelinetest.Result[string], *pipelinetest.Result[transforms.KV[string, int64]]) {
		p := pipeline.New()
		s := p.Root()
		ords := windowing.Into(s, pipeline.Read(s, pipelinetest.Source(in, 4)), windowing.Fixed{Size: time.Minute})
		quotes := transforms.Map(s, transforms.Filter(s, ords, func(o order) bool { return o.Currency != "XXX" }), func(o order) transforms.KV[string, int64] {
			return transforms.Pair(o.Currency, 90+o.Cents%20)
		})
		rates := transforms.AsMap(s, transforms.MaxPerKey(s, quotes))
		names := transforms.AsMap(s, pipelinetest.Create(s, transforms.Pair("EUR", "euro"), transforms.Pair("GBP", "pound"), transforms.Pair("JPY", "yen")))
		priced := transforms.MapWithSide(s, ords, func(o order, side transforms.Side) string {
			name, ok := names.Lookup(side, o.Currency)
			if !ok {
				name = "?"
			}
			r, ok := rates.Lookup(side, o.Currency)
			if !ok {
				return fmt.Sprintf("%d %s unpriced", o.ID, name)
			}
			return fmt.Sprintf("%d %s %d", o.ID, name, o.Cents*r/100)
		}, names, rates)
		perName := transforms.Count(s, transforms.Map(s, priced, func(line string) string { return strings.Fields(line)[1] }))
		return p, pipelinetest.Collect(s, priced), pipelinetest.Collect(s, perName)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	lp, lpriced, lcounts := build()
	require.NoError(t, local.New(local.Config{Workers: 2}).Run(ctx, lp))
	bp, bpriced, bcounts := build()
	require.NoError(t, beam.New(beam.Config{}).Run(ctx, bp))
	want := multiset(lpriced.Elements())
	require.Len(t, want, len(in))
	require.Contains(t, lpriced.Values(), "3 ? unpriced")
	require.Equal(t, want, multiset(bpriced.Elements()))
	wantCounts := multiset(lcounts.Elements())
	require.Len(t, wantCounts, 40) // 4 names × 10 minutes
	require.Equal(t, wantCounts, multiset(bcounts.Elements()))
}

// Views over every window kind a side input may have — fixed windows of the main input's size and larger,
// sliding windows (Beam Go maps a main window to the earliest sliding window containing its end, kappa to the
// latest: the runner translates the windows so that Beam gives kappa's), the global window — and every view kind
// give on Prism what they give on runners/local.
func TestSideInputWindowKindsParityOnPrism(t *testing.T) {
	var side []pipelinetest.Timed[transforms.KV[string, int64]]
	for i := range 300 {
		side = append(side, pipelinetest.AtMillis(transforms.Pair(string(rune('x'+i%3)), int64(i)), int64(i)*1000)) // 5 minutes
	}
	var main []pipelinetest.Timed[int]
	for i := range 50 {
		main = append(main, pipelinetest.AtMillis(i, int64(i)*6000+500))
	}
	build := func() (*pipeline.Pipeline, *pipelinetest.Result[string]) {
		p := pipeline.New()
		s := p.Root()
		raw := pipeline.Read(s, pipelinetest.Source(side, 3))
		sum := func(seq func(func(transforms.KV[string, int64]) bool)) (n, x int64) {
			for kv := range seq {
				n++
				x += kv.Value
			}
			return n, x
		}
		minute := windowing.Into(s, raw, windowing.Fixed{Size: time.Minute})
		it := transforms.AsIter(s, minute)
		mm := transforms.AsMultiMap(s, minute)
		last := transforms.AsSingleton(s, transforms.Map(s, minute, func(kv transforms.KV[string, int64]) int64 { return kv.Value / 60 })) // the minute: one value per window
		two := transforms.AsIter(s, windowing.Into(s, raw, windowing.Fixed{Size: 2 * time.Minute}))
		sliding := transforms.AsIter(s, windowing.Into(s, raw, windowing.Sliding{Size: 3 * time.Minute, Period: time.Minute}))
		global := transforms.AsMap(s, transforms.SumPerKey(s, raw))
		mainW := windowing.Into(s, pipeline.Read(s, pipelinetest.Source(main, 2)), windowing.Fixed{Size: 30 * time.Second})
		out := transforms.MapWithSide(s, mainW, func(m int, sd transforms.Side) string {
			n1, s1 := sum(it.Get(sd))
			_, s2 := sum(two.Get(sd))
			_, s3 := sum(sliding.Get(sd))
			l, _ := last.Get(sd)
			g, _ := global.Lookup(sd, "y")
			return fmt.Sprintf("%d: minute n=%d sum=%d x=%d last=%d two=%d sliding=%d global-y=%d", m, n1, s1, len(mm.Lookup(sd, "x")), l, s2, s3, g)
		}, it, mm, last, two, sliding, global)
		return p, pipelinetest.Collect(s, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	lp, lres := build()
	require.NoError(t, local.New(local.Config{Workers: 2}).Run(ctx, lp))
	bp, bres := build()
	require.NoError(t, beam.New(beam.Config{}).Run(ctx, bp))
	want := multiset(lres.Elements())
	require.Len(t, want, len(main))
	require.Contains(t, lres.Values(), "0: minute n=60 sum=1770 x=20 last=0 two=7140 sliding=16110 global-y=14950") // [0,1m), [0,2m), [0,3m)
	require.Equal(t, want, multiset(bres.Elements()))
}

// Semantic difference (docs/beam.md): in a stream, Prism gives a bundle of main elements a windowed side input's
// window only once the main input's watermark has passed the end of that window; before, the window is empty,
// even when the side input is complete. runners/local (stream mode) processes a main element once its side
// window has data or is complete: x, read while the main watermark is at 30 s, sees the bounded side input's
// s1 locally and nothing on Prism; y, read after the watermark passed the minute, sees s1 on both. z is late (its
// window ended before it arrived): runners/local drops it, Prism processes it with an empty side window (the
// window's side data was already dropped).
func TestSideInputDifferenceStreamReadinessOnPrism(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 1, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	build := func() (*pipeline.Pipeline, *pipelinetest.Result[string], *teststream.Clock) {
		mainTS := teststream.New[string](t0).
			AddElements(teststream.At("x", at(10*time.Second))).
			AdvanceWatermark(at(30 * time.Second)).
			AddElements(teststream.At("y", at(40*time.Second))).
			AdvanceWatermark(at(5 * time.Minute)).
			AddElements(teststream.At("z", at(50*time.Second)))
		p := pipeline.New()
		s := p.Root()
		side := transforms.AsIter(s, windowing.Into(s, pipelinetest.CreateTimed(s, pipelinetest.At("s1", at(5*time.Second))), windowing.Fixed{Size: time.Minute}))
		main := windowing.Into(s, teststream.Read(s, mainTS), windowing.Fixed{Size: time.Minute})
		out := transforms.MapWithSide(s, main, func(v string, sd transforms.Side) string {
			return v + " saw [" + strings.Join(slices.Collect(side.Get(sd)), ",") + "]"
		}, side)
		return p, pipelinetest.Collect(s, out), mainTS.Clock()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	lp, lres, clock := build()
	require.NoError(t, local.New(teststream.Config(clock, 1)).Run(ctx, lp))
	require.ElementsMatch(t, []string{"x saw [s1]", "y saw [s1]"}, lres.Values(), "runners/local")
	bp, bres, _ := build()
	require.NoError(t, beam.New(beam.Config{}).Run(ctx, bp))
	require.ElementsMatch(t, []string{"x saw []", "y saw [s1]", "z saw []"}, bres.Values(), "Prism")
}

// Which pane a view holds on Prism: Prism gives a side window every element of every pane fired so far (an
// accumulating grouping's early panes a=1 and a=3, and its final on-time pane a=3, all at once), and the views
// keep kappa's latest pane per key using the pane each element carries: AsMultiMap holds [3], not [1 3 3]; with
// discarding panes [2] (the latest pane's own value). When a main element runs differs: Prism runs a main bundle
// once the side input's watermark has caught up with the main input's, so main0 (read at 3 s, before a=2 at 5 s)
// sees a=1 locally and, with accumulating panes, a=3 on Prism — docs/beam.md.
func TestSideInputDifferencePanesOnPrism(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 1, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	for _, tc := range []struct {
		mode        string
		opt         windowing.Option
		local, beam []string
	}{
		{"accumulating", windowing.AccumulatingPanes(),
			[]string{"main0 a=1 b=10 multi-a=[1]", "main1 a=3 b=10 multi-a=[3]"},
			[]string{"main0 a=3 b=10 multi-a=[3]", "main1 a=3 b=10 multi-a=[3]"}},
		{"discarding", windowing.DiscardingPanes(),
			[]string{"main0 a=1 b=10 multi-a=[1]", "main1 a=2 b=10 multi-a=[2]"},
			[]string{"main0 a=1 b=10 multi-a=[1]", "main1 a=2 b=10 multi-a=[2]"}},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			build := func() (*pipeline.Pipeline, *pipelinetest.Result[string], *teststream.Clock) {
				ts := teststream.New[transforms.KV[string, int64]](t0).
					AddElements(teststream.At(transforms.Pair("a", int64(1)), at(time.Second)), teststream.At(transforms.Pair("b", int64(10)), at(time.Second))).
					AdvanceWatermark(at(2 * time.Second)).
					AddElements(teststream.At(transforms.Pair("main", int64(0)), at(3*time.Second))).
					AdvanceWatermark(at(4 * time.Second)).
					AddElements(teststream.At(transforms.Pair("a", int64(2)), at(5*time.Second))).
					AdvanceWatermark(at(6 * time.Second)).
					AddElements(teststream.At(transforms.Pair("main", int64(1)), at(7*time.Second))).
					AdvanceWatermark(at(8 * time.Second))
				p := pipeline.New()
				s := p.Root()
				in := teststream.Read(s, ts)
				sideCol := windowing.Into(s, transforms.Filter(s, in, func(kv transforms.KV[string, int64]) bool { return kv.Key != "main" }), windowing.Global{},
					windowing.WithTrigger(windowing.Repeatedly{Trigger: windowing.AfterCount{N: 1}}), tc.opt)
				sums := transforms.SumPerKey(s, sideCol)
				latest, all := transforms.AsMap(s, sums), transforms.AsMultiMap(s, sums)
				main := transforms.Filter(s, in, func(kv transforms.KV[string, int64]) bool { return kv.Key == "main" })
				out := transforms.MapWithSide(s, main, func(kv transforms.KV[string, int64], side transforms.Side) string {
					a, _ := latest.Lookup(side, "a")
					b, _ := latest.Lookup(side, "b")
					return fmt.Sprintf("main%d a=%d b=%d multi-a=%v", kv.Value, a, b, all.Lookup(side, "a"))
				}, latest, all)
				return p, pipelinetest.Collect(s, out), ts.Clock()
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			lp, lres, clock := build()
			require.NoError(t, local.New(teststream.Config(clock, 1)).Run(ctx, lp))
			require.ElementsMatch(t, tc.local, lres.Values(), "runners/local")
			bp, bres, _ := build()
			require.NoError(t, beam.New(beam.Config{}).Run(ctx, bp))
			require.ElementsMatch(t, tc.beam, bres.Values(), "Prism")
		})
	}
}

// AsTable (a changelog with tombstones) and the Snapshots option are views like the others and run on Prism as
// on runners/local: the changelog, read from four splits, is applied in event-time order (a's older update
// arriving late is ignored, b's tombstone deletes it, c is deleted and re-inserted); with Snapshots, an AsMap holds
// the latest snapshot only (b, missing from snapshot 1, is gone), without it each key's latest pane.
func TestSideInputAsTableAndSnapshotsOnPrism(t *testing.T) {
	type change = transforms.KV[string, transforms.Change[int]]
	upd := func(k string, v int, ms int64) pipelinetest.Timed[change] {
		return pipelinetest.AtMillis(transforms.Pair(k, transforms.Change[int]{Value: v}), ms)
	}
	del := func(k string, ms int64) pipelinetest.Timed[change] {
		return pipelinetest.AtMillis(transforms.Pair(k, transforms.Change[int]{Delete: true}), ms)
	}
	changelog := []pipelinetest.Timed[change]{
		upd("a", 1, 10), upd("b", 1, 10), upd("c", 1, 10), upd("a", 2, 20), upd("a", 0, 15),
		del("b", 30), upd("b", 5, 25), del("c", 30), upd("c", 3, 40), upd("d", 4, 5),
	}
	type snap struct {
		Gen int64
		Key string
		Val int
	}
	snaps := []pipelinetest.Timed[snap]{
		pipelinetest.AtMillis(snap{0, "a", 1}, 0), pipelinetest.AtMillis(snap{0, "b", 1}, 0),
		pipelinetest.AtMillis(snap{1, "a", 2}, 1), pipelinetest.AtMillis(snap{1, "c", 3}, 1),
	}
	build := func() (*pipeline.Pipeline, *pipelinetest.Result[string]) {
		p := pipeline.New()
		s := p.Root()
		table := transforms.AsTable(s, pipeline.Read(s.Scope("changelog"), pipelinetest.Source(changelog, 4)))
		kvs := transforms.ParDo(s, pipeline.Read(s.Scope("snapshots"), pipelinetest.Source(snaps, 3)),
			transforms.DoFunc[snap, transforms.KV[string, int]](func(_ context.Context, e pipeline.Element[snap], emit transforms.Emitter[transforms.KV[string, int]]) error {
				emit.EmitElement(pipeline.Element[transforms.KV[string, int]]{Value: transforms.Pair(e.Value.Key, e.Value.Val), Time: e.Time,
					Window: e.Window, Pane: pipeline.Pane{Index: e.Value.Gen}}) // the generation as pane index, as io/refresh emits
				return nil
			}))
		whole, perKey := transforms.AsMap(s, kvs, transforms.Snapshots()), transforms.AsMap(s, kvs)
		out := transforms.MapWithSide(s, pipelinetest.Create(s, "a", "b", "c", "d", "x"), func(k string, side transforms.Side) string {
			var rows []string
			for rk, v := range table.All(side) {
				rows = append(rows, fmt.Sprintf("%s=%d", rk, v))
			}
			slices.Sort(rows)
			v, ok := table.Lookup(side, k)
			w, wok := whole.Lookup(side, k)
			pk, pok := perKey.Lookup(side, k)
			return fmt.Sprintf("%s: table %d %v %v; snapshot %d %v (%d keys); per-key %d %v", k, v, ok, rows, w, wok, whole.Len(side), pk, pok)
		}, table, whole, perKey)
		return p, pipelinetest.Collect(s, out)
	}
	want := []string{
		"a: table 2 true [a=2 c=3 d=4]; snapshot 2 true (2 keys); per-key 2 true",
		"b: table 0 false [a=2 c=3 d=4]; snapshot 0 false (2 keys); per-key 1 true",
		"c: table 3 true [a=2 c=3 d=4]; snapshot 3 true (2 keys); per-key 3 true",
		"d: table 4 true [a=2 c=3 d=4]; snapshot 0 false (2 keys); per-key 0 false",
		"x: table 0 false [a=2 c=3 d=4]; snapshot 0 false (2 keys); per-key 0 false",
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	lp, lres := build()
	require.NoError(t, local.New(local.Config{Workers: 2}).Run(ctx, lp))
	require.ElementsMatch(t, want, lres.Values(), "runners/local")
	bp, bres := build()
	require.NoError(t, beam.New(beam.Config{}).Run(ctx, bp))
	require.ElementsMatch(t, want, bres.Values(), "Prism")
}
