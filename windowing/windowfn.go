package windowing

import (
	"fmt"
	"time"

	"github.com/kappaflow/kappa/pipeline"
)

// WindowFn assigns windows to elements by their event time.
type WindowFn interface {
	fmt.Stringer
	// AssignWindows appends the windows containing t to dst and returns it.
	AssignWindows(dst []pipeline.Window, t pipeline.Time) []pipeline.Window
	// Validate reports a misconfiguration.
	Validate() error
}

// Fixed assigns each element to one window of Size, aligned to the epoch plus Offset (Beam's FixedWindows, Flink's
// tumbling windows).
type Fixed struct {
	Size   time.Duration
	Offset time.Duration
}

// AssignWindows appends the one window containing t.
func (f Fixed) AssignWindows(dst []pipeline.Window, t pipeline.Time) []pipeline.Window {
	return append(dst, f.Window(t))
}

// Window returns the window containing t.
func (f Fixed) Window(t pipeline.Time) pipeline.Window {
	size, off := pipeline.Time(f.Size.Milliseconds()), pipeline.Time(f.Offset.Milliseconds())
	start := t - mod(t-off, size)
	return pipeline.Window{Start: start, End: start + size}
}

// Validate checks Size > 0 and whole milliseconds.
func (f Fixed) Validate() error {
	if f.Size.Milliseconds() <= 0 {
		return fmt.Errorf("fixed windows: size %v must be at least 1ms", f.Size)
	}
	if f.Size%time.Millisecond != 0 || f.Offset%time.Millisecond != 0 {
		return fmt.Errorf("fixed windows: size %v and offset %v must be whole milliseconds", f.Size, f.Offset)
	}
	return nil
}

// String returns e.g. "Fixed(1m0s)".
func (f Fixed) String() string {
	if f.Offset != 0 {
		return fmt.Sprintf("Fixed(%v, offset %v)", f.Size, f.Offset)
	}
	return fmt.Sprintf("Fixed(%v)", f.Size)
}

// Sliding assigns each element to every window of Size that starts at a multiple of Period (plus Offset) and
// contains it: Size/Period windows when Period divides Size (Beam's SlidingWindows, Flink's sliding windows).
type Sliding struct {
	Size   time.Duration
	Period time.Duration
	Offset time.Duration
}

// AssignWindows appends the windows containing t, latest start first.
func (s Sliding) AssignWindows(dst []pipeline.Window, t pipeline.Time) []pipeline.Window {
	size, period, off := pipeline.Time(s.Size.Milliseconds()), pipeline.Time(s.Period.Milliseconds()), pipeline.Time(s.Offset.Milliseconds())
	last := t - mod(t-off, period)
	for start := last; start > t-size; start -= period {
		dst = append(dst, pipeline.Window{Start: start, End: start + size})
	}
	return dst
}

// Validate checks that Size and Period are at least 1 ms, in whole milliseconds. Period may exceed Size: then
// some event times are in no window (the element is dropped from windowed results), as in Beam.
func (s Sliding) Validate() error {
	if s.Period.Milliseconds() <= 0 || s.Size.Milliseconds() <= 0 {
		return fmt.Errorf("sliding windows: size %v and period %v must be at least 1ms", s.Size, s.Period)
	}
	if s.Size%time.Millisecond != 0 || s.Period%time.Millisecond != 0 || s.Offset%time.Millisecond != 0 {
		return fmt.Errorf("sliding windows: size, period and offset must be whole milliseconds")
	}
	return nil
}

// String returns e.g. "Sliding(5m0s every 1m0s)".
func (s Sliding) String() string {
	if s.Offset != 0 {
		return fmt.Sprintf("Sliding(%v every %v, offset %v)", s.Size, s.Period, s.Offset)
	}
	return fmt.Sprintf("Sliding(%v every %v)", s.Size, s.Period)
}

// Slice returns the width of the slices that windows are made of (the greatest common divisor of Size and Period)
// and the slice containing t. Every window is a union of Size/width consecutive slices, which lets aggregations
// keep one partial aggregate per slice instead of one copy of each element per window.
func (s Sliding) Slice(t pipeline.Time) (width pipeline.Time, slice pipeline.Window) {
	width = gcd(pipeline.Time(s.Size.Milliseconds()), pipeline.Time(s.Period.Milliseconds()))
	off := pipeline.Time(s.Offset.Milliseconds())
	start := t - mod(t-off, width)
	return width, pipeline.Window{Start: start, End: start + width}
}

// Sessions assigns each element the window [t, t+Gap); the windows of one key that overlap merge into a session
// (Beam's Sessions, Flink's session windows). Merging happens per key in GroupByKey and CombinePerKey. Windows
// that only touch — [a, b) and [b, c), elements exactly Gap apart — do not merge, as in Beam Java, whereas Flink
// merges them (its TimeWindow.intersects compares with ≤).
type Sessions struct {
	Gap time.Duration
}

// AssignWindows appends the proto-session [t, t+Gap).
func (s Sessions) AssignWindows(dst []pipeline.Window, t pipeline.Time) []pipeline.Window {
	return append(dst, pipeline.Window{Start: t, End: t.Add(s.Gap)})
}

// Validate checks Gap ≥ 1ms.
func (s Sessions) Validate() error {
	if s.Gap.Milliseconds() <= 0 {
		return fmt.Errorf("sessions: gap %v must be at least 1ms", s.Gap)
	}
	return nil
}

// String returns e.g. "Sessions(30m0s)".
func (s Sessions) String() string { return fmt.Sprintf("Sessions(%v)", s.Gap) }

// Global puts every element in the single global window; with the default trigger it fires once, when the input
// ends.
type Global struct{}

// AssignWindows appends the global window.
func (Global) AssignWindows(dst []pipeline.Window, _ pipeline.Time) []pipeline.Window {
	return append(dst, pipeline.GlobalWindow)
}

// Validate never fails.
func (Global) Validate() error { return nil }

// String returns "Global".
func (Global) String() string { return "Global" }

func mod(a, b pipeline.Time) pipeline.Time {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

func gcd(a, b pipeline.Time) pipeline.Time {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
