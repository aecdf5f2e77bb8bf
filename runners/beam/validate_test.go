package beam_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/exec"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/pipelinetest/teststream"
	"github.com/kappaflow/kappa/runners/beam"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

type ikv = transforms.KV[string, int]

func timedInput(s pipeline.Scope) pipeline.PCollection[ikv] {
	return pipelinetest.CreateTimed(s, pipelinetest.AtMillis(transforms.Pair("a", 1), 1000), pipelinetest.AtMillis(transforms.Pair("b", 2), 2000))
}

// everyOther is a custom window function: windows of 2 s starting at odd seconds.
type everyOther struct{}

func (everyOther) String() string  { return "EveryOther" }
func (everyOther) Validate() error { return nil }
func (everyOther) AssignWindows(dst []pipeline.Window, t pipeline.Time) []pipeline.Window {
	start := t - (t+1000)%2000
	return append(dst, pipeline.Window{Start: start, End: start + 2000})
}

// epochSink commits on kappa's epochs only (it does not say it is bundle-safe).
type epochSink struct{ pipelinetest.Result[int] }

func (*epochSink) BundleSafe() bool { return false }

// opaqueKeyed is a keyed operator with no portable description (no grouping, stateful or side-input interface).
type opaqueKeyed struct{}

func (opaqueKeyed) String() string { return "Opaque" }
func (opaqueKeyed) NewExchange(int) (exec.Exchange, error) {
	return nil, errors.New("opaqueKeyed has no exchange")
}

// Each entry of the validation: the pipeline that needs the feature is refused before submission, with a problem
// naming the transform, the feature and what to do instead.
func TestValidateRefusesEachFeature(t *testing.T) {
	tests := []struct {
		feature, transform string
		build              func(s pipeline.Scope)
	}{
		{beam.FeatureLateData, "SumPerKey", func(s pipeline.Scope) {
			var late pipeline.PCollection[ikv]
			w := windowing.Into(s, timedInput(s), windowing.Fixed{Size: time.Second})
			transforms.SumPerKey(s, w, transforms.LateDataTo(&late))
		}},
		{beam.FeatureWindowOffset, "WindowInto", func(s pipeline.Scope) {
			transforms.SumPerKey(s, windowing.Into(s, timedInput(s), windowing.Fixed{Size: time.Second, Offset: 100 * time.Millisecond}))
		}},
		{beam.FeatureWindowOffset, "WindowInto", func(s pipeline.Scope) {
			transforms.SumPerKey(s, windowing.Into(s, timedInput(s), windowing.Sliding{Size: 2 * time.Second, Period: time.Second, Offset: time.Millisecond}))
		}},
		{beam.FeatureCustomWindowFn, "WindowInto", func(s pipeline.Scope) {
			transforms.SumPerKey(s, windowing.Into(s, timedInput(s), everyOther{}))
		}},
		{beam.FeatureSlidingAssigned, "SumPerKey", func(s pipeline.Scope) {
			w := windowing.Into(s, timedInput(s), windowing.Sliding{Size: 2 * time.Second, Period: time.Second})
			tagged := transforms.MapWindowed(s, w, func(kv ikv, win pipeline.Window) ikv { return transforms.Pair(fmt.Sprint(kv.Key, win.Start), kv.Value) })
			transforms.SumPerKey(s, tagged)
		}},
		{beam.FeatureStatefulMerging, "StatefulParDo", func(s pipeline.Scope) {
			w := windowing.Into(s, timedInput(s), windowing.Sessions{Gap: time.Second})
			transforms.StatefulParDo(s, w, transforms.StatefulFuncs[string, int, int]{Process: func(context.Context, *transforms.StateContext[string], pipeline.Element[int], transforms.Emitter[int]) error {
				return nil
			}})
		}},
		{beam.FeatureSessionTrigger, "SumPerKey", func(s pipeline.Scope) {
			w := windowing.Into(s, timedInput(s), windowing.Sessions{Gap: time.Second}, windowing.WithTrigger(windowing.AfterWatermark{Early: windowing.EveryN(2)}))
			transforms.SumPerKey(s, w)
		}},
		{beam.FeatureUnboundedSource, "Read", func(s pipeline.Scope) {
			feed := pipelinetest.NewFeed[int]("0")
			transforms.Map(s, pipeline.Read(s, pipeline.Source[int](feed)), func(v int) int { return v })
		}},
		{beam.FeatureEpochSink, "Write", func(s pipeline.Scope) {
			pipeline.Write(s, pipelinetest.Create(s, 1, 2), pipeline.Sink[int](&epochSink{Result: *pipelinetest.NewResult[int]()}))
		}},
		{beam.FeatureTestStreams, "TestStream#2", func(s pipeline.Scope) {
			ts := teststream.New[int](time.Unix(0, 0)).AddElements(teststream.At(1, time.UnixMilli(1)))
			teststream.Read(s, ts)
			teststream.Read(s, ts)
		}},
		{beam.FeatureCoder, "SumPerKey", func(s pipeline.Scope) {
			keyed := transforms.KeyBy(s, pipelinetest.Create(s, 1, 2), func(v int) *int { return &v })
			transforms.SumPerKey(s, transforms.Map(s, keyed, func(kv transforms.KV[*int, int]) transforms.KV[*int, int] { return kv }))
		}},
		{beam.FeatureSideInputs, "MapWithSide", func(s pipeline.Scope) {
			var views []transforms.View
			for i := range 7 {
				views = append(views, transforms.AsSingleton(s, pipelinetest.Create(s, i)))
			}
			transforms.MapWithSide(s, pipelinetest.Create(s, "a"), func(k string, side transforms.Side) string { return k }, views...)
		}},
		{beam.FeatureSlidingAssigned, "MapWithSide", func(s pipeline.Scope) {
			names := transforms.AsMap(s, pipelinetest.Create(s, transforms.Pair("a", "Alpha")))
			w := windowing.Into(s, pipelinetest.CreateTimed(s, pipelinetest.AtMillis("a", 1000)), windowing.Sliding{Size: 2 * time.Second, Period: time.Second})
			tagged := transforms.MapWindowed(s, w, func(k string, win pipeline.Window) string { return k })
			transforms.MapWithSide(s, tagged, func(k string, side transforms.Side) string {
				v, _ := names.Lookup(side, k)
				return v
			}, names)
		}},
		{beam.FeatureCoder, "MapWithSide", func(s pipeline.Scope) {
			ptrs := transforms.AsIter(s, transforms.Map(s, pipelinetest.Create(s, 1), func(v int) chan int { return make(chan int) }))
			transforms.MapWithSide(s, pipelinetest.Create(s, "a"), func(k string, side transforms.Side) string { return k }, ptrs)
		}},
		{beam.FeatureNoTranslation, "Opaque", func(s pipeline.Scope) {
			t := pipeline.AddTransform(s, "Opaque", opaqueKeyed{}, pipelinetest.Create(s, 1))
			pipeline.AddOutput[int](s, t)
		}},
		{beam.FeatureStageOutputs, "Create", func(s pipeline.Scope) {
			in := pipelinetest.Create(s, transforms.Pair("a", 1))
			for range 11 {
				transforms.SumPerKey(s, in)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.feature, func(t *testing.T) {
			p := pipeline.New()
			tt.build(p.Root())
			require.NoError(t, p.Err())
			err := beam.Validate(p)
			var ve *beam.ValidationError
			require.True(t, errors.As(err, &ve), "want a *ValidationError, got %v", err)
			var found *beam.Problem
			for i, pr := range ve.Problems {
				if pr.Feature == tt.feature {
					found = &ve.Problems[i]
				}
			}
			require.NotNil(t, found, "no %q problem in %v", tt.feature, err)
			require.Equal(t, tt.transform, found.Transform)
			require.NotEmpty(t, found.Instead)
			// Run refuses it the same way, before submitting anything.
			require.ErrorAs(t, beam.New(beam.Config{}).Run(context.Background(), p), &ve)
		})
	}
}

// Validation returns every problem at once.
func TestValidateReturnsEveryProblem(t *testing.T) {
	p := pipeline.New()
	s := p.Root()
	var late pipeline.PCollection[ikv]
	w := windowing.Into(s, timedInput(s), windowing.Fixed{Size: time.Second, Offset: time.Millisecond})
	transforms.SumPerKey(s, w, transforms.LateDataTo(&late))
	pipeline.Write(s, pipelinetest.Create(s, 1), pipeline.Sink[int](&epochSink{Result: *pipelinetest.NewResult[int]()}))
	var ve *beam.ValidationError
	require.ErrorAs(t, beam.Validate(p), &ve)
	var features []string
	for _, pr := range ve.Problems {
		features = append(features, pr.Feature)
	}
	require.ElementsMatch(t, []string{beam.FeatureWindowOffset, beam.FeatureLateData, beam.FeatureEpochSink}, features)
	require.Contains(t, ve.Error(), "SumPerKey: "+beam.FeatureLateData+": ")
}

// What only shows while running stops the run with an error naming the transform: an element put in a window its
// grouping's windowing does not assign (EmitElement with another window), and a processing-time timer.
func TestRuntimeRefusals(t *testing.T) {
	t.Run("re-windowing emit", func(t *testing.T) {
		p := pipeline.New()
		s := p.Root()
		w := windowing.Into(s, timedInput(s), windowing.Fixed{Size: time.Second})
		moved := transforms.ParDo(s, w, transforms.DoFunc[ikv, ikv](func(_ context.Context, e pipeline.Element[ikv], emit transforms.Emitter[ikv]) error {
			e.Window = pipeline.Window{Start: e.Window.Start + 1, End: e.Window.End + 1}
			emit.EmitElement(e)
			return nil
		}), transforms.Name("Shift"))
		transforms.SumPerKey(s, moved)
		err := beam.New(beam.Config{}).Run(context.Background(), p)
		require.ErrorContains(t, err, "SumPerKey: an element in window")
		require.ErrorContains(t, err, "EmitElement with another window")
	})
	t.Run("processing-time timer", func(t *testing.T) {
		p := pipeline.New()
		s := p.Root()
		transforms.StatefulParDo(s, pipelinetest.Create(s, transforms.Pair("a", 1)), transforms.StatefulFuncs[string, int, int]{
			Process: func(_ context.Context, sc *transforms.StateContext[string], _ pipeline.Element[int], _ transforms.Emitter[int]) error {
				sc.SetProcessingTimer("t", time.Now().Add(time.Second))
				return nil
			}}, transforms.Name("Timed"))
		err := beam.New(beam.Config{}).Run(context.Background(), p)
		require.ErrorContains(t, err, "Timed: processing-time timer \"t\"")
	})
}
