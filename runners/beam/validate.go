package beam

import (
	"fmt"
	"strings"

	"github.com/kappaflow/kappa/internal/exec"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/windowing"
)

// Problem is one thing in a pipeline that the Beam runner cannot run as kappa's local runner would.
type Problem struct {
	// Transform is the full name of the transform concerned.
	Transform string
	// Feature names what is not supported.
	Feature string
	// Instead says what to do instead.
	Instead string
}

// String formats the problem as "transform: feature: instead".
func (p Problem) String() string { return p.Transform + ": " + p.Feature + ": " + p.Instead }

// ValidationError lists every problem found in a pipeline.
type ValidationError struct {
	Problems []Problem
}

// Error lists the problems, one per line.
func (e *ValidationError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "kappa/beam: the pipeline uses %d feature(s) the Beam runner does not support:", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  - ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Features checked by Validate, as Problem.Feature.
const (
	FeatureLateData        = "LateDataTo (late-data output)"
	FeatureWindowOffset    = "window offset"
	FeatureCustomWindowFn  = "custom window function"
	FeatureSlidingAssigned = "sliding windows assigned before a keyed transform"
	FeatureStatefulMerging = "StatefulParDo over merging (session) windows"
	FeatureSessionTrigger  = "count or processing-time trigger on session windows (Prism)"
	FeatureUnboundedSource = "unbounded source"
	FeatureEpochSink       = "epoch-only sink"
	FeatureTestStreams     = "more than one test stream"
	FeatureStageOutputs    = "too many keyed transforms fed by one stage"
	FeatureCoder           = "element type without a coder"
	FeatureNoTranslation   = "keyed operator without a Beam translation"
	FeatureSideInputs      = "more than 6 side inputs on one ParDoWithSide or MapWithSide"
)

// Validate returns a *ValidationError listing every problem that stops p from running on Beam (Prism), or nil.
// Re-windowing emits (a DoFn's EmitElement into a window its input's windowing does not assign, before a keyed
// transform) can only be seen while running: they stop the run with an error naming the transform.
func Validate(p *pipeline.Pipeline) error {
	var probs []Problem
	add := func(t *pipeline.Transform, feature, instead string, args ...any) {
		probs = append(probs, Problem{Transform: t.Name(), Feature: feature, Instead: fmt.Sprintf(instead, args...)})
	}
	checkStrategy := func(t *pipeline.Transform, st *windowing.Strategy) {
		switch fn := st.WindowFn().(type) {
		case windowing.Global, windowing.Sessions:
		case windowing.Fixed:
			if fn.Offset != 0 {
				add(t, FeatureWindowOffset, "Beam's Go SDK has no window offsets (%s): use windows aligned to the epoch, or runners/local", fn)
			}
		case windowing.Sliding:
			if fn.Offset != 0 {
				add(t, FeatureWindowOffset, "Beam's Go SDK has no window offsets (%s): use windows aligned to the epoch, or runners/local", fn)
			}
		default:
			add(t, FeatureCustomWindowFn, "Beam's Go SDK runs only Fixed, Sliding, Sessions and Global windows, not %s: express the windows with those, or use runners/local", fn)
		}
	}
	scripts := 0
	for _, t := range p.Transforms() {
		switch op := t.Op().(type) {
		case exec.WindowIntoOp:
			if st, ok := op.IntoStrategy().(*windowing.Strategy); ok {
				checkStrategy(t, st)
			}
		case exec.SourceOp:
			src, _ := sourceOf(op)
			if _, ok := src.(exec.ScriptedSource); ok {
				scripts++
				if scripts > 1 {
					add(t, FeatureTestStreams, "Beam (Prism) runs one TestStream per pipeline: merge the scripts into one")
				}
				continue
			}
			if _, ok := src.(OffsetPositions); !ok && !op.Bounded() {
				add(t, FeatureUnboundedSource, "%s is unbounded and its positions are not offsets (beam.OffsetPositions, as io/kafkaio's): the Beam runner reads unbounded sources as splittable DoFns over offset ranges; read it bounded, or run the stream on runners/local", op.SourceName())
			}
		case exec.SinkOp:
			sink, _ := sinkOf(op)
			if bs, ok := sink.(exec.BundleSink); (!ok || !bs.BundleSafe()) && !finalized(op) {
				if r, ok := sink.(FinalizationRefusal); ok && r.NotFinalizedBecause() != "" {
					add(t, FeatureEpochSink, "sink %s commits in bundle finalization only in some configurations, not this one: %s; or use runners/local", op.SinkName(), r.NotFinalizedBecause())
				} else {
					add(t, FeatureEpochSink, "sink %s commits on kappa's checkpoint epochs (it reads their watermark or Final flag, or needs its commit after a durable checkpoint) and would lose its guarantee per Beam bundle: write with a sink that keeps it per bundle (pipelinetest.Collect, foreach.Write; internal/exec.BundleSink) or commits in bundle finalization (beam.FinalizedSink), or use runners/local", op.SinkName())
				}
			}
		case exec.GroupOp:
			if op.HasLateOutput() {
				add(t, FeatureLateData, "Beam drops data behind the allowed lateness and has no late-data output: remove LateDataTo (late data is then dropped), raise the allowed lateness, or use runners/local")
			}
			if err := op.CheckCoders(); err != nil {
				add(t, FeatureCoder, "%v: give the type a coder (encoding.BinaryMarshaler) or change the key/value type", err)
			}
			checkKeyed(t, op.InputStrategy(), false, add)
		case exec.StatefulOp:
			if err := op.CheckCoders(); err != nil {
				add(t, FeatureCoder, "%v: give the type a coder (encoding.BinaryMarshaler) or change the key/value type", err)
			}
			checkKeyed(t, op.InputStrategy(), true, add)
		case exec.SideOp:
			if n := len(op.SideKinds()); n > maxSides {
				add(t, FeatureSideInputs, "it reads %d side inputs; on Beam a ParDo reads at most %d (stage DoFns declare them in their signatures): combine views (one AsMap of a joined collection instead of several), or split the ParDo in two", n, maxSides)
			}
			for i, c := range t.Inputs() {
				if _, err := c.Coder(); err != nil {
					what := "main input"
					if i > 0 {
						what = fmt.Sprintf("side input %d", i-1)
					}
					add(t, FeatureCoder, "%s: %v: its elements cross a stage boundary on Beam: give the type a coder (encoding.BinaryMarshaler) or change it", what, err)
				}
			}
			if st, _ := op.MainStrategy().(*windowing.Strategy); st != nil {
				if _, sliding := st.WindowFn().(windowing.Sliding); sliding && !st.Deferred {
					add(t, FeatureSlidingAssigned, "a transform that looks at windows (ParDo, MapWindowed, WithTimestamps) ran between windowing.Into(Sliding) and this ParDo with side inputs, so each main element is already copied into its windows, which Beam would copy again: move that transform after it, or re-window")
				}
			}
		case exec.KeyedOp:
			// Every other keyed operator lacks a portable description.
			add(t, FeatureNoTranslation, "the Beam runner has no translation of %s (a keyed operator without a portable description): use runners/local", t.Op())
		}
	}
	if len(probs) == 0 {
		pl, err := newPlan(p)
		if err != nil {
			return err
		}
		for _, st := range pl.stages {
			if len(st.outs) > maxOutputs {
				add(st.entry, FeatureStageOutputs, "the chain after it feeds %d keyed transforms, more than the %d a stage supports: split the pipeline", len(st.outs), maxOutputs)
			}
		}
	}
	if len(probs) > 0 {
		return &ValidationError{Problems: probs}
	}
	return nil
}

func checkKeyed(t *pipeline.Transform, s any, stateful bool, add func(t *pipeline.Transform, feature, instead string, args ...any)) {
	st, _ := s.(*windowing.Strategy)
	if st == nil {
		return
	}
	switch st.WindowFn().(type) {
	case windowing.Sliding:
		if !st.Deferred {
			add(t, FeatureSlidingAssigned, "a transform that looks at windows (ParDo, MapWindowed, WithTimestamps) ran between windowing.Into(Sliding) and this keyed transform, so each element is already copied into its windows, which Beam would copy again: move that transform after the grouping, or re-window")
		}
	case windowing.Sessions:
		if stateful {
			add(t, FeatureStatefulMerging, "Beam does not run stateful DoFns over merging windows: use fixed or global windows, or a GroupByKey over the sessions")
		} else if statefulTrigger(st.TriggerOrDefault()) {
			add(t, FeatureSessionTrigger, "Prism does not run AfterCount or AfterProcessingTime triggers (%s) on merging windows: use AfterWatermark without them, another window function, or runners/local", st.TriggerOrDefault())
		}
	}
}

func statefulTrigger(t windowing.Trigger) bool {
	switch t := t.(type) {
	case windowing.AfterCount, windowing.AfterProcessingTime:
		return true
	case windowing.AfterWatermark:
		return (t.Early != nil && statefulTrigger(t.Early)) || (t.Late != nil && statefulTrigger(t.Late))
	case windowing.Repeatedly:
		return statefulTrigger(t.Trigger)
	case windowing.AfterAny:
		for _, c := range t {
			if statefulTrigger(c) {
				return true
			}
		}
	case windowing.AfterAll:
		for _, c := range t {
			if statefulTrigger(c) {
				return true
			}
		}
	}
	return false
}

// FinalizationRefusal is implemented by sinks that commit in bundle finalization (FinalizedSink) in some
// configurations only: NotFinalizedBecause names the setting that needs kappa's checkpoint epochs and what to
// change, or returns "" when the sink commits in bundle finalization. Validate puts it in the sink's Problem.
type FinalizationRefusal interface {
	NotFinalizedBecause() string
}

func sinkOf(op exec.SinkOp) (any, bool) {
	s, ok := op.(interface{ Sink() any })
	if !ok {
		return nil, false
	}
	return s.Sink(), true
}

// Refused lists the refused features as "feature: transform", one per problem (pipelinetest.Refusal).
func (e *ValidationError) Refused() []string {
	out := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		out[i] = p.Feature + ": " + p.Transform
	}
	return out
}
