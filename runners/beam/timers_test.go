package beam_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/transforms"
)

// A timer a stateful DoFn clears does not fire on Prism, whether it is cleared by the element that set it, by
// another timer's callback, or by its own callback. The Beam Go SDK (v2.77) processes a timer cleared in a
// bundle as an inline firing at time 0 when timers of its key come later in the bundle; a DoFn that cleared the
// timer again in that firing looped until Prism's 60 s bundle deadline (the cause of TableJoin's hang).
func TestClearedTimerDoesNotFireOnPrism(t *testing.T) {
	p := pipeline.New()
	s := p.Root()
	in := pipelinetest.CreateTimed(s,
		pipelinetest.AtMillis(transforms.Pair("a", 0), 10), pipelinetest.AtMillis(transforms.Pair("b", 0), 20),
		pipelinetest.AtMillis(transforms.Pair("c", 1), 30))
	out := transforms.StatefulParDo(s, in, transforms.StatefulFuncs[string, int, string]{
		Process: func(_ context.Context, sc *transforms.StateContext[string], e pipeline.Element[int], _ transforms.Emitter[string]) error {
			sc.SetEventTimer("release", e.Time+1)
			sc.SetEventTimer("expire", e.Time+100)
			if e.Value == 1 { // c: cleared by the element that set it
				sc.ClearTimer("expire")
			}
			return nil
		},
		Timer: func(_ context.Context, sc *transforms.StateContext[string], tm transforms.Timer, emit transforms.Emitter[string]) error {
			emit.Emit(fmt.Sprintf("%s %s@%d", sc.Key(), tm.Name, int64(tm.Time)))
			sc.ClearTimer("expire")  // cleared by another timer's callback
			sc.ClearTimer("release") // and by its own
			return nil
		},
	})
	pipelinetest.Equals(s, out, "a release@11", "b release@21", "c release@31")
	run(t, p)
}
