package windowing

import (
	"fmt"
	"time"

	"github.com/kappaflow/kappa/pipeline"
)

// Accumulation says how successive panes of a window relate.
type Accumulation uint8

const (
	// Discarding panes each hold only the data since the previous pane (the default, as in Beam).
	Discarding Accumulation = iota
	// Accumulating panes each hold all the data of the window so far.
	Accumulating
)

// Strategy is the windowing of a collection: how windows are assigned, when panes fire and how late data may be.
// Into sets it; grouping transforms read it. The zero Strategy is the global window with the default trigger.
type Strategy struct {
	// Fn assigns windows; nil means Global.
	Fn WindowFn
	// Trigger says when panes fire; nil means Default.
	Trigger Trigger
	// Accumulation relates successive panes.
	Accumulation Accumulation
	// AllowedLateness is how far behind the watermark data may arrive and still update its window.
	AllowedLateness time.Duration
	// OnTimeIfNonEmpty suppresses empty on-time panes (Beam's OnTimeBehavior FIRE_IF_NON_EMPTY); by default the
	// on-time pane is always emitted for a key that has state in the window, even if empty.
	OnTimeIfNonEmpty bool
	// Deferred is true while windows are not yet materialised on the elements: Into with Sliding defers assignment
	// to the next transform that needs windows, which lets aggregations keep one partial aggregate per slice of
	// time instead of copying each element into every window.
	Deferred bool
}

// WindowFn returns the strategy's window function (Global when none).
func (s *Strategy) WindowFn() WindowFn {
	if s == nil || s.Fn == nil {
		return Global{}
	}
	return s.Fn
}

// TriggerOrDefault returns the trigger, Default when none.
func (s *Strategy) TriggerOrDefault() Trigger {
	if s == nil || s.Trigger == nil {
		return Default{}
	}
	return s.Trigger
}

// Merging reports whether windows merge per key (sessions).
func (s *Strategy) Merging() bool {
	_, ok := s.WindowFn().(Sessions)
	return ok
}

// DeferredAssigner returns, while window assignment is deferred (Deferred), the function that assigns an
// element's windows by its timestamp; else nil. Window-observing consumers outside this package call it: sinks
// (pipeline.Write) write each element once per window.
func (s *Strategy) DeferredAssigner() func(dst []pipeline.Window, t pipeline.Time) []pipeline.Window {
	if s == nil || !s.Deferred {
		return nil
	}
	return s.WindowFn().AssignWindows
}

// String describes the strategy, e.g. "Fixed(1m0s) trigger=Default discarding lateness=0s".
func (s *Strategy) String() string {
	mode := "discarding"
	if s != nil && s.Accumulation == Accumulating {
		mode = "accumulating"
	}
	var late time.Duration
	if s != nil {
		late = s.AllowedLateness
	}
	return fmt.Sprintf("%s trigger=%s %s lateness=%v", s.WindowFn(), s.TriggerOrDefault(), mode, late)
}

// Of returns the strategy of a collection (never nil).
func Of(c pipeline.Input) *Strategy {
	col := c.Collection()
	if col == nil {
		return &Strategy{}
	}
	if s, ok := col.Windowing().(*Strategy); ok && s != nil {
		return s
	}
	return &Strategy{}
}
