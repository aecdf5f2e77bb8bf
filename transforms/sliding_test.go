package transforms_test

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

// slidingEvents is a deterministic input of 300 keyed values at increasing times from -50 ms, with gaps of 0 to
// 7 ms (so some windows are empty).
func slidingEvents() []pipelinetest.Timed[transforms.KV[string, int]] {
	out := make([]pipelinetest.Timed[transforms.KV[string, int]], 300)
	t := int64(-50)
	x := uint64(42)
	for i := range out {
		x = x*6364136223846793005 + 1442695040888963407
		t += int64(x>>33) % 8
		out[i] = timed(pair(fmt.Sprintf("k%d", (x>>40)%5), int(x>>50)%100), t)
	}
	return out
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// slidingByDefinition assigns each event to every window [o + k·period, o + k·period + size) containing it and
// groups per key and window: the plain definition the engine's sliced and exploded paths must both match.
func slidingByDefinition(events []pipelinetest.Timed[transforms.KV[string, int]], size, period, offset int64) map[pipeline.Window]map[string][]int {
	out := map[pipeline.Window]map[string][]int{}
	for _, e := range events {
		t := int64(e.Time)
		for k := floorDiv(t-size-offset, period); k <= floorDiv(t-offset, period); k++ {
			start := offset + k*period
			if t < start || t >= start+size {
				continue
			}
			w := win(start, start+size)
			if out[w] == nil {
				out[w] = map[string][]int{}
			}
			out[w][e.Value.Key] = append(out[w][e.Value.Key], e.Value.Value)
		}
	}
	return out
}

// Sliding windows with overlaps: every element appears in every window that contains it, whichever path the
// engine takes — the sliced one (a combiner right after WindowInto: partial sums per slice of time), the exploded
// one (GroupByKey: one copy per window), or a window-observing ParDo between WindowInto and the grouping (which
// materialises the windows, after which a combiner works per window).
func TestSlidingMatchesDefinition(t *testing.T) {
	events := slidingEvents()
	for _, fn := range []windowing.Sliding{
		{Size: 50 * ms, Period: 20 * ms},                 // period does not divide size
		{Size: 30 * ms, Period: 10 * ms, Offset: 3 * ms}, // with an offset
		{Size: 60 * ms, Period: 5 * ms},                  // 12 windows per element
		{Size: 10 * ms, Period: 10 * ms},                 // no overlap: fixed windows
		{Size: 10 * ms, Period: 25 * ms},                 // gaps between windows: some elements are in none
	} {
		def := slidingByDefinition(events, fn.Size.Milliseconds(), fn.Period.Milliseconds(), fn.Offset.Milliseconds())
		var wantGroups []pipeline.Element[group]
		var wantSums, wantTotals []pipeline.Element[transforms.KV[string, int]]
		var wantTagged []pipeline.Element[transforms.KV[string, []string]]
		for w, keys := range def {
			total := 0
			for k, vs := range keys {
				sum := 0
				tags := make([]string, len(vs))
				for i, v := range vs {
					sum += v
					tags[i] = fmt.Sprintf("%d@%d", v, w.Start)
				}
				total += sum
				wantGroups = append(wantGroups, fired(pair(k, slices.Sorted(slices.Values(vs))), w))
				wantSums = append(wantSums, fired(pair(k, sum), w))
				slices.Sort(tags)
				wantTagged = append(wantTagged, fired(pair(k, tags), w))
			}
			wantTotals = append(wantTotals, fired(pair("all", total), w))
		}
		t.Run(fn.String(), func(t *testing.T) {
			forEachMode(t, allModes, func(s pipeline.Scope) {
				in := windowing.Into(s, pipelinetest.CreateTimed(s, events...), fn)
				// Sliced path (a window-agnostic Map in between keeps it).
				pipelinetest.EqualsElements(s.Scope("sliced"), transforms.SumPerKey(s, in), wantSums...)
				doubled := transforms.Map(s, in, func(kv transforms.KV[string, int]) transforms.KV[string, int] { return pair(kv.Key, 2*kv.Value) })
				halved := transforms.Map(s, transforms.SumPerKey(s, doubled), func(kv transforms.KV[string, int]) transforms.KV[string, int] {
					return pair(kv.Key, kv.Value/2)
				})
				pipelinetest.EqualsElements(s.Scope("sliced after Map"), halved, wantSums...)
				all := transforms.Combine(s, transforms.Values(s, in), transforms.SumFn[int]{})
				pipelinetest.EqualsElements(s.Scope("sliced globally"), transforms.Map(s, all, func(v int) transforms.KV[string, int] { return pair("all", v) }), wantTotals...)
				// Exploded path.
				pipelinetest.EqualsElements(s.Scope("exploded"), sortedGroups(s, transforms.GroupByKey(s, in)), wantGroups...)
				// A ParDo that reads each element's window sees the element once per window.
				tagged := transforms.ParDo(s, in, transforms.DoFunc[transforms.KV[string, int], transforms.KV[string, string]](
					func(_ context.Context, e pipeline.Element[transforms.KV[string, int]], emit transforms.Emitter[transforms.KV[string, string]]) error {
						emit.Emit(pair(e.Value.Key, fmt.Sprintf("%d@%d", e.Value.Value, e.Window.Start)))
						return nil
					}))
				pipelinetest.EqualsElements(s.Scope("ParDo then GroupByKey"), sortedGroups(s, transforms.GroupByKey(s, tagged)), wantTagged...)
				values := transforms.ParDo(s, in, transforms.DoFunc[transforms.KV[string, int], transforms.KV[string, int]](
					func(_ context.Context, e pipeline.Element[transforms.KV[string, int]], emit transforms.Emitter[transforms.KV[string, int]]) error {
						if !e.Window.Contains(e.Time) || e.Window.End-e.Window.Start != pipeline.Time(fn.Size.Milliseconds()) {
							return fmt.Errorf("element at %d in window %v", e.Time, e.Window)
						}
						emit.Emit(e.Value)
						return nil
					}))
				pipelinetest.EqualsElements(s.Scope("ParDo then CombinePerKey"), transforms.SumPerKey(s, values), wantSums...)
			})
		})
	}
}

// A sink right after WindowInto(Sliding) sees each element once per window, like every other window-observing
// consumer.
func TestSlidingWindowsReachSinks(t *testing.T) {
	forEachMode(t, allModes, func(s pipeline.Scope) {
		in := pipelinetest.CreateTimed(s, timed("a", 15), timed("b", 20))
		w := windowing.Into(s, in, windowing.Sliding{Size: 30 * ms, Period: 10 * ms})
		el := func(v string, ms int64, w pipeline.Window) pipeline.Element[string] {
			return pipeline.Element[string]{Value: v, Time: pipeline.Time(ms), Window: w, Pane: pipeline.NoFiringPane}
		}
		pipelinetest.EqualsElements(s, w,
			el("a", 15, win(-10, 20)), el("a", 15, win(0, 30)), el("a", 15, win(10, 40)),
			el("b", 20, win(0, 30)), el("b", 20, win(10, 40)), el("b", 20, win(20, 50)))
		pipelinetest.EqualsInWindow(s, w, win(20, 50), "b")
		// Window-agnostic transforms in between do not change that.
		upper := transforms.Filter(s, transforms.Map(s, w, func(v string) string { return v + v }), func(v string) bool { return v == "aa" })
		pipelinetest.EqualsElements(s, upper, el("aa", 15, win(-10, 20)), el("aa", 15, win(0, 30)), el("aa", 15, win(10, 40)))
	})
}

// Windowing into Fixed after Sliding re-windows each element by its timestamp (once).
func TestRewindowAfterSliding(t *testing.T) {
	forEachMode(t, allModes, func(s pipeline.Scope) {
		in := pipelinetest.CreateTimed(s, timed(pair("a", 1), 15), timed(pair("a", 2), 25))
		sl := windowing.Into(s, in, windowing.Sliding{Size: 30 * ms, Period: 10 * ms})
		fx := windowing.Into(s, sl, windowing.Fixed{Size: time.Minute})
		pipelinetest.EqualsElements(s, transforms.SumPerKey(s, fx), fired(pair("a", 3), win(0, 60000)))
	})
}

// Flatten accepts sliding-windowed collections whether or not a window-observing transform has already put each
// element in its windows, and the merged collection has every element in every window containing it.
func TestFlattenSlidingInputs(t *testing.T) {
	sl := windowing.Sliding{Size: 20 * ms, Period: 10 * ms}
	forEachMode(t, allModes, func(s pipeline.Scope) {
		a := windowing.Into(s, pipelinetest.CreateTimed(s, timed(pair("k", 1), 5)), sl)
		b := windowing.Into(s, pipelinetest.CreateTimed(s, timed(pair("k", 10), 15)), sl)
		observed := transforms.ParDo(s, b, transforms.DoFunc[transforms.KV[string, int], transforms.KV[string, int]](
			func(_ context.Context, e pipeline.Element[transforms.KV[string, int]], emit transforms.Emitter[transforms.KV[string, int]]) error {
				emit.Emit(pair(e.Value.Key, e.Value.Value+int(e.Window.Start)))
				return nil
			}))
		both := transforms.Flatten(s, a, observed)
		pipelinetest.EqualsElements(s, transforms.SumPerKey(s, both),
			fired(pair("k", 1), win(-10, 10)), fired(pair("k", 1+10), win(0, 20)), fired(pair("k", 20), win(10, 30)))
		pipelinetest.EqualsElements(s, sortedGroups(s, transforms.GroupByKey(s, transforms.Flatten(s, observed, a))),
			fired(pair("k", []int{1}), win(-10, 10)), fired(pair("k", []int{1, 10}), win(0, 20)), fired(pair("k", []int{20}), win(10, 30)))
	})
}

// With late data in stream mode, the sliced path (a combiner right after WindowInto) fires exactly the panes of
// the exploded path (GroupByKey, then summing each group): same values, windows, timestamps and panes, for
// discarding and accumulating panes.
func TestSlidingSlicedLatePanesMatchExploded(t *testing.T) {
	events := []pipelinetest.Timed[transforms.KV[string, int]]{
		timed(pair("k", 1), 5), timed(pair("k", 2), 25), timed(pair("j", 3), 26),
		timed(pair("k", 4), 8),  // late for [-10,10) and [0,20), within the allowed lateness
		timed(pair("k", 5), 45), //
		timed(pair("k", 6), 12), // late for [0,20) and [10,30)
		timed(pair("k", 7), 90), // the watermark passes the lateness of the early windows
		timed(pair("k", 8), 9),  // too late for both its windows: dropped
		timed(pair("j", 9), 95),
	}
	for _, acc := range []windowing.Option{windowing.DiscardingPanes(), windowing.AccumulatingPanes()} {
		for _, workers := range []int{1, 3} {
			p := pipeline.New()
			s := p.Root()
			in := pipeline.Read(s, pipelinetest.Source(events, 1))
			w := windowing.Into(s, in, windowing.Sliding{Size: 20 * ms, Period: 10 * ms}, windowing.AllowedLateness(50*ms), acc)
			sliced := pipelinetest.Collect(s, transforms.SumPerKey(s, w))
			exploded := pipelinetest.Collect(s, transforms.Map(s, transforms.GroupByKey(s, w), func(kv transforms.KV[string, iter.Seq[int]]) transforms.KV[string, int] {
				sum := 0
				for v := range kv.Value {
					sum += v
				}
				return pair(kv.Key, sum)
			}))
			r := local.New(local.Config{Workers: workers, Mode: local.Stream, BatchRecords: 1, Logger: quiet})
			require.NoError(t, r.Run(context.Background(), p))
			format := func(es []pipeline.Element[transforms.KV[string, int]]) []string {
				out := make([]string, len(es))
				for i, e := range es {
					out[i] = pipelinetest.FormatElement(e)
				}
				slices.Sort(out)
				return out
			}
			got, want := format(sliced.Elements()), format(exploded.Elements())
			require.Equal(t, want, got)
			require.Greater(t, len(got), 8)
			late := 0
			for _, e := range sliced.Elements() {
				if e.Pane.Timing == pipeline.Late {
					late++
				}
			}
			require.Equal(t, 4, late, "late panes: %v", got)
			require.Equal(t, map[string]int64{"SumPerKey": 2, "GroupByKey": 2}, r.Stats().Late, "the element at 9 ms is dropped by both, once per expired window")
		}
	}
}
