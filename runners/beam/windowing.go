package beam

import (
	"fmt"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window/trigger"

	"github.com/kappaflow/kappa/windowing"
)

// beamWindowing translates a kappa strategy into Beam's WindowInto arguments.
func beamWindowing(st *windowing.Strategy) (*window.Fn, []beam.WindowIntoOption, error) {
	var fn *window.Fn
	switch w := st.WindowFn().(type) {
	case windowing.Global:
		fn = window.NewGlobalWindows()
	case windowing.Fixed:
		fn = window.NewFixedWindows(w.Size)
	case windowing.Sliding:
		fn = window.NewSlidingWindows(w.Period, w.Size)
	case windowing.Sessions:
		fn = window.NewSessions(w.Gap)
	default:
		return nil, nil, fmt.Errorf("window function %s has no Beam equivalent", st.WindowFn())
	}
	tr, err := beamTrigger(st.TriggerOrDefault())
	if err != nil {
		return nil, nil, err
	}
	opts := []beam.WindowIntoOption{beam.Trigger(tr), beam.AllowedLateness(st.AllowedLateness)}
	if st.Accumulation == windowing.Accumulating {
		opts = append(opts, beam.PanesAccumulate())
	} else {
		opts = append(opts, beam.PanesDiscard())
	}
	return fn, opts, nil
}

func beamTrigger(t windowing.Trigger) (trigger.Trigger, error) {
	switch t := t.(type) {
	case nil, windowing.Default:
		return trigger.Default(), nil
	case windowing.AfterWatermark:
		tr := trigger.AfterEndOfWindow()
		if t.Early != nil {
			e, err := beamTrigger(t.Early)
			if err != nil {
				return nil, err
			}
			tr = tr.EarlyFiring(trigger.Repeat(e))
		}
		if t.Late != nil {
			l, err := beamTrigger(t.Late)
			if err != nil {
				return nil, err
			}
			tr = tr.LateFiring(trigger.Repeat(l))
		}
		return tr, nil
	case windowing.AfterCount:
		return trigger.AfterCount(int32(t.N)), nil
	case windowing.AfterProcessingTime:
		return trigger.AfterProcessingTime().PlusDelay(t.Delay), nil
	case windowing.Repeatedly:
		s, err := beamTrigger(t.Trigger)
		if err != nil {
			return nil, err
		}
		return trigger.Repeat(s), nil
	case windowing.AfterAny:
		subs, err := beamTriggers(t)
		if err != nil {
			return nil, err
		}
		return trigger.AfterAny(subs), nil
	case windowing.AfterAll:
		subs, err := beamTriggers(t)
		if err != nil {
			return nil, err
		}
		return trigger.AfterAll(subs), nil
	}
	return nil, fmt.Errorf("trigger %s has no Beam equivalent", t)
}

func beamTriggers(ts []windowing.Trigger) ([]trigger.Trigger, error) {
	out := make([]trigger.Trigger, len(ts))
	for i, t := range ts {
		b, err := beamTrigger(t)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}
