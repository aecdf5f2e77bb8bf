package pipeline

import (
	"fmt"
	"math"
	"time"
)

// Time is an event time: milliseconds since the Unix epoch, UTC. Millisecond resolution follows Beam and Flink;
// it keeps the Beam rule "a window's elements get the timestamp end - 1 ms" exact.
type Time int64

const (
	// MinTime is the smallest event time: the timestamp of elements that have none, and the watermark before any
	// input has been seen.
	MinTime Time = math.MinInt64
	// MaxTime is the largest event time: the watermark of a source that has ended, and the end of the global window.
	MaxTime Time = math.MaxInt64
)

// TimeOf converts t to an event time (truncating to the millisecond).
func TimeOf(t time.Time) Time { return Time(t.UnixMilli()) }

// Std converts the event time to a time.Time in UTC.
func (t Time) Std() time.Time { return time.UnixMilli(int64(t)).UTC() }

// Add returns t+d, saturating at MinTime and MaxTime.
func (t Time) Add(d time.Duration) Time {
	ms := d.Milliseconds()
	switch {
	case ms > 0 && t > MaxTime-Time(ms):
		return MaxTime
	case ms < 0 && t < MinTime-Time(ms):
		return MinTime
	}
	return t + Time(ms)
}

// String formats the time as RFC 3339 with milliseconds, or "-inf"/"+inf" for MinTime/MaxTime.
func (t Time) String() string {
	switch t {
	case MinTime:
		return "-inf"
	case MaxTime:
		return "+inf"
	}
	return t.Std().Format("2006-01-02T15:04:05.000Z")
}

// Window is a half-open interval [Start, End) of event time. Every element belongs to a window; elements that were
// never windowed belong to GlobalWindow.
type Window struct {
	Start, End Time
}

// GlobalWindow is the single window spanning all of event time.
var GlobalWindow = Window{Start: MinTime, End: MaxTime}

// MaxTimestamp is the largest timestamp inside the window (End - 1 ms); results of the window carry it.
func (w Window) MaxTimestamp() Time {
	if w.End == MinTime {
		return MinTime
	}
	return w.End - 1
}

// Contains reports whether t lies in the window.
func (w Window) Contains(t Time) bool { return t >= w.Start && t < w.End }

// IsGlobal reports whether w is the global window.
func (w Window) IsGlobal() bool { return w == GlobalWindow }

// String formats the window as [start, end).
func (w Window) String() string {
	if w.IsGlobal() {
		return "[global]"
	}
	return fmt.Sprintf("[%s, %s)", w.Start, w.End)
}

// Timing says when, relative to the watermark, a pane was emitted.
type Timing uint8

const (
	// Unknown is the timing of elements that did not come out of a grouping.
	Unknown Timing = iota
	// Early panes fire before the watermark passes the end of the window (speculative results).
	Early
	// OnTime is the pane fired when the watermark passes the end of the window.
	OnTime
	// Late panes fire after the on-time pane, for data that arrived behind the watermark within the allowed
	// lateness.
	Late
)

// String returns "early", "on-time", "late" or "unknown".
func (t Timing) String() string {
	switch t {
	case Early:
		return "early"
	case OnTime:
		return "on-time"
	case Late:
		return "late"
	}
	return "unknown"
}

// Pane describes which firing of a window produced an element, as Beam's PaneInfo does.
type Pane struct {
	// Index counts the panes of the window, from 0.
	Index int64
	// NonSpeculativeIndex counts the on-time and late panes, from 0; -1 for early panes.
	NonSpeculativeIndex int64
	// Timing is early, on-time or late.
	Timing Timing
	// First is true for the first pane of the window.
	First bool
	// Last is true when no further pane of the window will be emitted.
	Last bool
}

// NoFiringPane is the pane of elements that were not produced by a grouping: first, last, timing unknown.
var NoFiringPane = Pane{First: true, Last: true}

// String formats the pane compactly, e.g. "early#0" or "on-time#1(last)".
func (p Pane) String() string {
	s := fmt.Sprintf("%s#%d", p.Timing, p.Index)
	if p.Last {
		s += "(last)"
	}
	return s
}

// Element is a value with its event time, window and pane. Runners move elements; user functions that need the
// metadata (ParDo) receive whole elements.
type Element[T any] struct {
	Value  T
	Time   Time
	Window Window
	Pane   Pane
}
