package transforms_test

import (
	"context"
	"fmt"
	"slices"
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

type skv = transforms.KV[string, int]

func TestStatefulRunningCountPerKey(t *testing.T) {
	count := transforms.ValueState[int]{Name: "count"}
	for _, workers := range []int{1, 3} {
		t.Run(fmt.Sprint(workers), func(t *testing.T) {
			p := pipeline.New()
			s := p.Root()
			in := pipelinetest.Create(s, skv{Key: "a", Value: 0}, skv{Key: "b", Value: 0}, skv{Key: "a", Value: 0}, skv{Key: "a", Value: 0}, skv{Key: "b", Value: 0})
			out := transforms.StatefulParDo(s, in, transforms.StatefulFuncs[string, int, string]{
				Process: func(_ context.Context, sc *transforms.StateContext[string], e pipeline.Element[int], emit transforms.Emitter[string]) error {
					n, _ := count.Read(sc)
					count.Write(sc, n+1)
					emit.Emit(fmt.Sprintf("%s%d", sc.Key(), n+1))
					return nil
				}})
			pipelinetest.Equals(s, out, "a1", "a2", "a3", "b1", "b2")
			pipelinetest.Run(t, p, local.Config{Workers: workers})
		})
	}
}

// A bag buffers each key's values per window; an event-time timer at the end of the window flushes their sum,
// with the timer's time as the output timestamp. State is per window, so sums do not leak across windows.
func TestStatefulBagFlushedByEventTimer(t *testing.T) {
	bag := transforms.BagState[int]{Name: "values"}
	for _, mode := range []local.Mode{local.Batch, local.Stream} {
		t.Run(mode.String(), func(t *testing.T) {
			p := pipeline.New()
			s := p.Root()
			in := pipelinetest.CreateTimed(s,
				pipelinetest.AtMillis(skv{Key: "a", Value: 1}, 1000), pipelinetest.AtMillis(skv{Key: "a", Value: 2}, 2000),
				pipelinetest.AtMillis(skv{Key: "a", Value: 4}, 61000), pipelinetest.AtMillis(skv{Key: "b", Value: 8}, 3000))
			w := windowing.Into(s, in, windowing.Fixed{Size: time.Minute})
			out := transforms.StatefulParDo(s, w, transforms.StatefulFuncs[string, int, skv]{
				Process: func(_ context.Context, sc *transforms.StateContext[string], e pipeline.Element[int], _ transforms.Emitter[skv]) error {
					bag.Add(sc, e.Value)
					sc.SetEventTimer("flush", sc.Window().MaxTimestamp())
					return nil
				},
				Timer: func(_ context.Context, sc *transforms.StateContext[string], tm transforms.Timer, emit transforms.Emitter[skv]) error {
					sum := 0
					for v := range bag.Read(sc) {
						sum += v
					}
					bag.Clear(sc)
					emit.Emit(skv{Key: sc.Key(), Value: sum})
					return nil
				}})
			w0 := pipeline.Window{Start: 0, End: 60000}
			w1 := pipeline.Window{Start: 60000, End: 120000}
			pipelinetest.EqualsElements(s, out,
				pipeline.Element[skv]{Value: skv{Key: "a", Value: 3}, Time: 59999, Window: w0, Pane: pipeline.NoFiringPane},
				pipeline.Element[skv]{Value: skv{Key: "b", Value: 8}, Time: 59999, Window: w0, Pane: pipeline.NoFiringPane},
				pipeline.Element[skv]{Value: skv{Key: "a", Value: 4}, Time: 119999, Window: w1, Pane: pipeline.NoFiringPane},
			)
			pipelinetest.Run(t, p, local.Config{Workers: 2, Mode: mode, BatchRecords: 1})
		})
	}
}

// A processing-time timer fires when the (test) clock reaches it, not before; map and combining state hold
// per-key aggregates meanwhile.
func TestStatefulProcessingTimerMapAndCombiningState(t *testing.T) {
	seen := transforms.MapState[int, bool]{Name: "seen"}
	total := transforms.CombiningState[int, int, int]{Name: "total", Combiner: transforms.SumFn[int]{}}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ts := teststream.New[skv](start).
		AddElements(teststream.At(skv{Key: "a", Value: 1}, start), teststream.At(skv{Key: "a", Value: 1}, start), teststream.At(skv{Key: "a", Value: 5}, start)).
		AdvanceProcessingTime(30 * time.Second).
		AddElements(teststream.At(skv{Key: "a", Value: 7}, start)).
		AdvanceProcessingTime(31 * time.Second). // 61 s after the first element: the timer fires
		AddElements(teststream.At(skv{Key: "a", Value: 9}, start))
	p := pipeline.New()
	s := p.Root()
	in := teststream.Read(s, ts)
	var fired []time.Time
	out := transforms.StatefulParDo(s, in, transforms.StatefulFuncs[string, int, string]{
		Process: func(_ context.Context, sc *transforms.StateContext[string], e pipeline.Element[int], _ transforms.Emitter[string]) error {
			if _, dup := seen.Get(sc, e.Value); dup {
				return nil
			}
			seen.Put(sc, e.Value, true)
			total.Add(sc, e.Value)
			if len(slices.Collect(func(yield func(int) bool) {
				for k := range seen.All(sc) {
					if !yield(k) {
						return
					}
				}
			})) == 1 {
				sc.SetProcessingTimer("report", sc.Now().Add(time.Minute))
			}
			return nil
		},
		Timer: func(_ context.Context, sc *transforms.StateContext[string], tm transforms.Timer, emit transforms.Emitter[string]) error {
			fired = append(fired, sc.Now())
			emit.Emit(fmt.Sprintf("%s distinct-sum=%d", sc.Key(), total.Read(sc)))
			return nil
		}})
	pipelinetest.Equals(s, out, "a distinct-sum=13") // 1+5+7; the 9 arrives after the report
	pipelinetest.Run(t, p, teststream.Config(ts.Clock(), 1))
	require.Equal(t, []time.Time{start.Add(61 * time.Second)}, fired)
}

// Elements behind the allowed lateness never reach a stateful DoFn; they are counted.
func TestStatefulLateDataCounted(t *testing.T) {
	start := time.UnixMilli(0).UTC()
	ts := teststream.New[skv](start).
		AddElements(teststream.At(skv{Key: "a", Value: 1}, start.Add(10*time.Second))).
		AdvanceWatermark(start.Add(2 * time.Minute)).
		AddElements(teststream.At(skv{Key: "a", Value: 2}, start.Add(20*time.Second))) // window [0, 1m) expired
	p := pipeline.New()
	s := p.Root()
	in := windowing.Into(s, teststream.Read(s, ts), windowing.Fixed{Size: time.Minute})
	out := transforms.StatefulParDo(s, in, transforms.StatefulFuncs[string, int, int]{
		Process: func(_ context.Context, _ *transforms.StateContext[string], e pipeline.Element[int], emit transforms.Emitter[int]) error {
			emit.Emit(e.Value)
			return nil
		}}, transforms.Name("Echo"))
	pipelinetest.Equals(s, out, 1)
	r := pipelinetest.Run(t, p, teststream.Config(ts.Clock(), 2))
	require.Equal(t, map[string]int64{"Echo": 1}, r.Stats().Late)
}

func TestStatefulErrorNamesTransformAndKey(t *testing.T) {
	p := pipeline.New()
	s := p.Root()
	in := pipelinetest.Create(s, skv{Key: "bad", Value: 1})
	_ = transforms.StatefulParDo(s, in, transforms.StatefulFuncs[string, int, int]{
		Process: func(context.Context, *transforms.StateContext[string], pipeline.Element[int], transforms.Emitter[int]) error {
			return fmt.Errorf("boom")
		}}, transforms.Name("Fails"))
	err := local.New(local.Config{Workers: 2}).Run(context.Background(), p)
	require.ErrorContains(t, err, "Fails: key bad: boom")
}
