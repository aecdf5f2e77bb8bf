package windowing

import (
	"fmt"
	"strings"
	"time"
)

// Trigger says when the panes of a window are emitted. Triggers are values: AfterWatermark, AfterCount,
// AfterProcessingTime, Repeatedly, AfterAny, AfterAll and Default. Runners evaluate them after each micro-batch,
// so a trigger fires at most once per window and micro-batch.
type Trigger interface {
	fmt.Stringer
	trigger()
}

// Default is Beam's default trigger, Repeatedly(AfterWatermark{}): one on-time pane when the watermark passes the
// end of the window, then a late pane for each micro-batch that brings late data within the allowed lateness.
type Default struct{}

// AfterWatermark fires the on-time pane when the watermark passes the end of the window. Early, when set, fires
// speculative panes before that (repeatedly); Late, when set, fires panes for late data after it (repeatedly).
// Without Late, the trigger finishes at the on-time pane and later data is dropped as late.
type AfterWatermark struct {
	Early Trigger
	Late  Trigger
}

// AfterCount fires once the pane holds at least N elements (Beam's AfterPane.elementCountAtLeast).
type AfterCount struct {
	N int64
}

// AfterProcessingTime fires Delay of processing time after the first element of the pane arrived.
type AfterProcessingTime struct {
	Delay time.Duration
}

// Repeatedly fires whenever Trigger fires, resetting it after each firing; it never finishes.
type Repeatedly struct {
	Trigger Trigger
}

// AfterAny fires, once, as soon as any of its triggers fires (Beam's AfterFirst).
type AfterAny []Trigger

// AfterAll fires, once, when all of its triggers have fired.
type AfterAll []Trigger

func (Default) trigger()             {}
func (AfterWatermark) trigger()      {}
func (AfterCount) trigger()          {}
func (AfterProcessingTime) trigger() {}
func (Repeatedly) trigger()          {}
func (AfterAny) trigger()            {}
func (AfterAll) trigger()            {}

// String returns "Default".
func (Default) String() string { return "Default" }

// String returns e.g. "AfterWatermark(early=AfterCount(3))".
func (t AfterWatermark) String() string {
	var parts []string
	if t.Early != nil {
		parts = append(parts, "early="+t.Early.String())
	}
	if t.Late != nil {
		parts = append(parts, "late="+t.Late.String())
	}
	return "AfterWatermark(" + strings.Join(parts, ", ") + ")"
}

// String returns e.g. "AfterCount(3)".
func (t AfterCount) String() string { return fmt.Sprintf("AfterCount(%d)", t.N) }

// String returns e.g. "AfterProcessingTime(1m0s)".
func (t AfterProcessingTime) String() string { return fmt.Sprintf("AfterProcessingTime(%v)", t.Delay) }

// String returns e.g. "Repeatedly(AfterCount(3))".
func (t Repeatedly) String() string { return "Repeatedly(" + str(t.Trigger) + ")" }

// String returns e.g. "AfterAny(AfterCount(3), AfterProcessingTime(1s))".
func (t AfterAny) String() string { return "AfterAny(" + join(t) + ")" }

// String returns e.g. "AfterAll(AfterCount(3), AfterProcessingTime(1s))".
func (t AfterAll) String() string { return "AfterAll(" + join(t) + ")" }

func str(t Trigger) string {
	if t == nil {
		return "<nil>"
	}
	return t.String()
}

func join(ts []Trigger) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = str(t)
	}
	return strings.Join(s, ", ")
}

// Every is an early or late trigger firing every d of processing time while data arrives:
// AfterProcessingTime{Delay: d}, repeated by AfterWatermark.
func Every(d time.Duration) Trigger { return AfterProcessingTime{Delay: d} }

// EveryN is an early or late trigger firing every n elements: AfterCount{N: n}.
func EveryN(n int64) Trigger { return AfterCount{N: n} }

// ValidateTrigger reports a malformed trigger (nil parts, non-positive counts or delays).
func ValidateTrigger(t Trigger) error {
	switch t := t.(type) {
	case nil:
		return fmt.Errorf("nil trigger")
	case Default:
		return nil
	case AfterWatermark:
		if t.Early != nil {
			if err := ValidateTrigger(t.Early); err != nil {
				return fmt.Errorf("early: %w", err)
			}
		}
		if t.Late != nil {
			if err := ValidateTrigger(t.Late); err != nil {
				return fmt.Errorf("late: %w", err)
			}
		}
		return nil
	case AfterCount:
		if t.N < 1 {
			return fmt.Errorf("AfterCount: N=%d must be at least 1", t.N)
		}
		return nil
	case AfterProcessingTime:
		if t.Delay < 0 {
			return fmt.Errorf("AfterProcessingTime: negative delay %v", t.Delay)
		}
		return nil
	case Repeatedly:
		return ValidateTrigger(t.Trigger)
	case AfterAny:
		return validateAll([]Trigger(t))
	case AfterAll:
		return validateAll([]Trigger(t))
	}
	return fmt.Errorf("unknown trigger %T", t)
}

func validateAll(ts []Trigger) error {
	if len(ts) == 0 {
		return fmt.Errorf("composite trigger without sub-triggers")
	}
	for _, t := range ts {
		if err := ValidateTrigger(t); err != nil {
			return err
		}
	}
	return nil
}
