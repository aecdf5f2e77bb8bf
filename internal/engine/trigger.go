package engine

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/windowing"
)

// tstate is the runtime state of one trigger node for one key and window; its children mirror the trigger's.
type tstate struct {
	Count    int64
	Deadline time.Time
	OnTime   bool // AfterWatermark: the on-time firing happened
	Latched  bool // AfterAll child: has fired
	Finished bool
	Kids     []*tstate
}

func newTState(t windowing.Trigger) *tstate {
	s := &tstate{}
	switch t := t.(type) {
	case windowing.AfterWatermark:
		s.Kids = []*tstate{newTState(t.Early), newTState(t.Late)}
	case windowing.Repeatedly:
		s.Kids = []*tstate{newTState(t.Trigger)}
	case windowing.AfterAny:
		for _, c := range t {
			s.Kids = append(s.Kids, newTState(c))
		}
	case windowing.AfterAll:
		for _, c := range t {
			s.Kids = append(s.Kids, newTState(c))
		}
	}
	return s
}

func (s *tstate) reset(t windowing.Trigger) {
	if t == nil {
		return
	}
	s.Count, s.Deadline, s.OnTime, s.Latched, s.Finished = 0, time.Time{}, false, false, false
	switch t := t.(type) {
	case windowing.AfterWatermark:
		s.Kids[0].reset(t.Early)
		s.Kids[1].reset(t.Late)
	case windowing.Repeatedly:
		s.Kids[0].reset(t.Trigger)
	case windowing.AfterAny:
		for i, c := range t {
			s.Kids[i].reset(c)
		}
	case windowing.AfterAll:
		for i, c := range t {
			s.Kids[i].reset(c)
		}
	}
}

// onElement records n new elements arriving at processing time now.
func (s *tstate) onElement(t windowing.Trigger, n int64, now time.Time) {
	if t == nil || s.Finished {
		return
	}
	switch t := t.(type) {
	case windowing.AfterWatermark:
		if !s.OnTime {
			s.Kids[0].onElement(t.Early, n, now)
		} else {
			s.Kids[1].onElement(t.Late, n, now)
		}
	case windowing.AfterCount:
		s.Count += n
	case windowing.AfterProcessingTime:
		if s.Deadline.IsZero() {
			s.Deadline = now.Add(t.Delay)
		}
	case windowing.Repeatedly:
		s.Kids[0].onElement(t.Trigger, n, now)
	case windowing.AfterAny:
		for i, c := range t {
			s.Kids[i].onElement(c, n, now)
		}
	case windowing.AfterAll:
		for i, c := range t {
			s.Kids[i].onElement(c, n, now)
		}
	}
}

// shouldFire evaluates the trigger for a window ending at end, at watermark wm and processing time now.
func (s *tstate) shouldFire(t windowing.Trigger, wm, end pipeline.Time, now time.Time) bool {
	if t == nil || s.Finished {
		return false
	}
	switch t := t.(type) {
	case windowing.Default:
		return wm >= end
	case windowing.AfterWatermark:
		if !s.OnTime {
			return wm >= end || s.Kids[0].shouldFire(t.Early, wm, end, now)
		}
		return s.Kids[1].shouldFire(t.Late, wm, end, now)
	case windowing.AfterCount:
		return s.Count >= t.N
	case windowing.AfterProcessingTime:
		return !s.Deadline.IsZero() && !now.Before(s.Deadline)
	case windowing.Repeatedly:
		return s.Kids[0].shouldFire(t.Trigger, wm, end, now)
	case windowing.AfterAny:
		for i, c := range t {
			if s.Kids[i].shouldFire(c, wm, end, now) {
				return true
			}
		}
		return false
	case windowing.AfterAll:
		all := true
		for i, c := range t {
			k := s.Kids[i]
			if !k.Latched && k.shouldFire(c, wm, end, now) {
				k.Latched = true
			}
			all = all && k.Latched
		}
		return all
	}
	return false
}

// onFire updates the state after the root fired.
func (s *tstate) onFire(t windowing.Trigger, wm, end pipeline.Time, now time.Time) {
	switch t := t.(type) {
	case windowing.Default:
		// Repeatedly(AfterWatermark): fires again for every later batch of (late) data.
	case windowing.AfterWatermark:
		if !s.OnTime {
			if wm >= end {
				s.OnTime = true
				if t.Late == nil {
					s.Finished = true
				}
				return
			}
			s.Kids[0].reset(t.Early) // early firings repeat until the watermark passes
			return
		}
		s.Kids[1].reset(t.Late) // late firings repeat
	case windowing.AfterCount, windowing.AfterProcessingTime, windowing.AfterAny, windowing.AfterAll:
		s.Finished = true
	case windowing.Repeatedly:
		s.Kids[0].reset(t.Trigger)
	}
}

// nextDeadline returns the earliest processing-time deadline in the tree, zero if none.
func (s *tstate) nextDeadline() time.Time {
	if s.Finished {
		return time.Time{}
	}
	d := s.Deadline
	for _, k := range s.Kids {
		if kd := k.nextDeadline(); !kd.IsZero() && (d.IsZero() || kd.Before(d)) {
			d = kd
		}
	}
	return d
}

// mergeFrom folds the state of a merged-away session window into s.
func (s *tstate) mergeFrom(o *tstate) {
	s.Count += o.Count
	if !o.Deadline.IsZero() && (s.Deadline.IsZero() || o.Deadline.Before(s.Deadline)) {
		s.Deadline = o.Deadline
	}
	s.Latched = s.Latched || o.Latched
	for i := range s.Kids {
		if i < len(o.Kids) {
			s.Kids[i].mergeFrom(o.Kids[i])
		}
	}
}

// appendTo encodes the trigger state (for spilling): count, deadline (Unix ns, 0 for none), flags, children.
func (s *tstate) appendTo(b []byte) []byte {
	b = binary.AppendVarint(b, s.Count)
	var dl int64
	if !s.Deadline.IsZero() {
		dl = s.Deadline.UnixNano()
	}
	b = binary.AppendVarint(b, dl)
	var flags byte
	if s.OnTime {
		flags |= 1
	}
	if s.Latched {
		flags |= 2
	}
	if s.Finished {
		flags |= 4
	}
	b = append(b, flags)
	b = binary.AppendUvarint(b, uint64(len(s.Kids)))
	for _, k := range s.Kids {
		b = k.appendTo(b)
	}
	return b
}

var errCorruptTState = errors.New("corrupt trigger state")

// readTState decodes a trigger state and returns the rest of b.
func readTState(b []byte) (*tstate, []byte, error) {
	s := &tstate{}
	var n int
	if s.Count, n = binary.Varint(b); n <= 0 {
		return nil, nil, errCorruptTState
	}
	b = b[n:]
	dl, n := binary.Varint(b)
	if n <= 0 || len(b) <= n {
		return nil, nil, errCorruptTState
	}
	if dl != 0 {
		s.Deadline = time.Unix(0, dl)
	}
	b = b[n:]
	s.OnTime, s.Latched, s.Finished = b[0]&1 != 0, b[0]&2 != 0, b[0]&4 != 0
	b = b[1:]
	kids, n := binary.Uvarint(b)
	if n <= 0 || kids > 64 {
		return nil, nil, errCorruptTState
	}
	b = b[n:]
	for range kids {
		k, rest, err := readTState(b)
		if err != nil {
			return nil, nil, err
		}
		s.Kids = append(s.Kids, k)
		b = rest
	}
	return s, b, nil
}

// mergeSequential combines the trigger state of a pane's older part (spilled) with that of its newer part (data
// that arrived after the spill, in a fresh pane): counts add up, the earliest deadline stays, and what had
// happened (on-time firing, latches, finishing) stays happened.
func mergeSequential(old, cur *tstate) *tstate {
	out := &tstate{Count: old.Count + cur.Count, OnTime: old.OnTime || cur.OnTime, Latched: old.Latched || cur.Latched,
		Finished: old.Finished || cur.Finished, Deadline: old.Deadline}
	if !cur.Deadline.IsZero() && (out.Deadline.IsZero() || cur.Deadline.Before(out.Deadline)) {
		out.Deadline = cur.Deadline
	}
	for i := range max(len(old.Kids), len(cur.Kids)) {
		switch {
		case i >= len(old.Kids):
			out.Kids = append(out.Kids, cur.Kids[i])
		case i >= len(cur.Kids):
			out.Kids = append(out.Kids, old.Kids[i])
		default:
			out.Kids = append(out.Kids, mergeSequential(old.Kids[i], cur.Kids[i]))
		}
	}
	return out
}
