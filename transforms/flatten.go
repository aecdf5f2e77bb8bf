package transforms

import (
	"context"

	"github.com/kappaflow/kappa/internal/engine"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/windowing"
)

// Flatten merges collections of the same type into one. The inputs must have the same windowing.
func Flatten[T any](s pipeline.Scope, cols ...pipeline.PCollection[T]) pipeline.PCollection[T] {
	if len(cols) == 0 {
		s.Errorf("Flatten: no inputs")
		return pipeline.PCollection[T]{}
	}
	ins := make([]pipeline.Input, len(cols))
	var first *windowing.Strategy // of the first valid input
	ref, mixed := 0, false
	for i, c := range cols {
		ins[i] = c
		if !c.Valid() {
			continue
		}
		st := windowing.Of(c)
		if first == nil {
			first, ref = st, i
			continue
		}
		if st.String() != first.String() {
			s.Errorf("Flatten: input %d has windowing %s but input %d has %s; window them alike first (for example windowing.Into(s, c, windowing.Global{}))", i, st, ref, first)
			return pipeline.PCollection[T]{}
		}
		mixed = mixed || st.Deferred != first.Deferred
	}
	if mixed {
		// Same windows, but some inputs still defer their assignment (sliding windows not yet observed): assign
		// them, so that every element of the output is in its windows.
		for i, c := range cols {
			if c.Valid() && windowing.Of(c).Deferred {
				ins[i] = ParDo(s, c, DoFunc[T, T](func(_ context.Context, e pipeline.Element[T], emit Emitter[T]) error {
					emit.EmitElement(e)
					return nil
				}), Name("AssignWindows"))
			}
		}
	}
	t := addTransform(s, "Flatten", engine.NewFlatten[T](), ins...)
	out := pipeline.AddOutput[T](s, t)
	if out.Valid() {
		bounded := true
		for _, c := range ins {
			bounded = bounded && c.Collection().Bounded()
		}
		out.Collection().SetBounded(bounded)
	}
	return out
}

// Partition splits col into n collections: element v goes to collection fn(v). An index outside [0, n) stops the
// pipeline with an error naming the element.
func Partition[T any](s pipeline.Scope, col pipeline.PCollection[T], n int, fn func(T) int) []pipeline.PCollection[T] {
	if n < 1 || fn == nil {
		s.Errorf("Partition: need n ≥ 1 and a function (n=%d)", n)
		return make([]pipeline.PCollection[T], max(n, 0))
	}
	t := addTransform(s, "Partition", engine.NewPartition[T](n, fn), col)
	outs := make([]pipeline.PCollection[T], n)
	for i := range outs {
		outs[i] = pipeline.AddOutput[T](s, t)
	}
	return outs
}
