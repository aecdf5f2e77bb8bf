package transforms

import (
	"time"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/windowing"
)

// tstate is the runtime state of one trigger node for one key and window; its children mirror the trigger's.
type tstate struct {
	count    int64
	deadline time.Time
	onTime   bool // AfterWatermark: the on-time firing happened
	latched  bool // AfterAll child: has fired
	finished bool
	kids     []*tstate
}

func newTState(t windowing.Trigger) *tstate {
	s := &tstate{}
	switch t := t.(type) {
	case windowing.AfterWatermark:
		s.kids = []*tstate{newTState(t.Early), newTState(t.Late)}
	case windowing.Repeatedly:
		s.kids = []*tstate{newTState(t.Trigger)}
	case windowing.AfterAny:
		for _, c := range t {
			s.kids = append(s.kids, newTState(c))
		}
	case windowing.AfterAll:
		for _, c := range t {
			s.kids = append(s.kids, newTState(c))
		}
	}
	return s
}

func (s *tstate) reset(t windowing.Trigger) {
	if t == nil {
		return
	}
	s.count, s.deadline, s.onTime, s.latched, s.finished = 0, time.Time{}, false, false, false
	switch t := t.(type) {
	case windowing.AfterWatermark:
		s.kids[0].reset(t.Early)
		s.kids[1].reset(t.Late)
	case windowing.Repeatedly:
		s.kids[0].reset(t.Trigger)
	case windowing.AfterAny:
		for i, c := range t {
			s.kids[i].reset(c)
		}
	case windowing.AfterAll:
		for i, c := range t {
			s.kids[i].reset(c)
		}
	}
}

// onElement records n new elements arriving at processing time now.
func (s *tstate) onElement(t windowing.Trigger, n int64, now time.Time) {
	if t == nil || s.finished {
		return
	}
	switch t := t.(type) {
	case windowing.AfterWatermark:
		if !s.onTime {
			s.kids[0].onElement(t.Early, n, now)
		} else {
			s.kids[1].onElement(t.Late, n, now)
		}
	case windowing.AfterCount:
		s.count += n
	case windowing.AfterProcessingTime:
		if s.deadline.IsZero() {
			s.deadline = now.Add(t.Delay)
		}
	case windowing.Repeatedly:
		s.kids[0].onElement(t.Trigger, n, now)
	case windowing.AfterAny:
		for i, c := range t {
			s.kids[i].onElement(c, n, now)
		}
	case windowing.AfterAll:
		for i, c := range t {
			s.kids[i].onElement(c, n, now)
		}
	}
}

// shouldFire evaluates the trigger for a window ending at end, at watermark wm and processing time now.
func (s *tstate) shouldFire(t windowing.Trigger, wm, end pipeline.Time, now time.Time) bool {
	if t == nil || s.finished {
		return false
	}
	switch t := t.(type) {
	case windowing.Default:
		return wm >= end
	case windowing.AfterWatermark:
		if !s.onTime {
			return wm >= end || s.kids[0].shouldFire(t.Early, wm, end, now)
		}
		return s.kids[1].shouldFire(t.Late, wm, end, now)
	case windowing.AfterCount:
		return s.count >= t.N
	case windowing.AfterProcessingTime:
		return !s.deadline.IsZero() && !now.Before(s.deadline)
	case windowing.Repeatedly:
		return s.kids[0].shouldFire(t.Trigger, wm, end, now)
	case windowing.AfterAny:
		for i, c := range t {
			if s.kids[i].shouldFire(c, wm, end, now) {
				return true
			}
		}
		return false
	case windowing.AfterAll:
		all := true
		for i, c := range t {
			k := s.kids[i]
			if !k.latched && k.shouldFire(c, wm, end, now) {
				k.latched = true
			}
			all = all && k.latched
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
		if !s.onTime {
			if wm >= end {
				s.onTime = true
				if t.Late == nil {
					s.finished = true
				}
				return
			}
			s.kids[0].reset(t.Early) // early firings repeat until the watermark passes
			return
		}
		s.kids[1].reset(t.Late) // late firings repeat
	case windowing.AfterCount, windowing.AfterProcessingTime, windowing.AfterAny, windowing.AfterAll:
		s.finished = true
	case windowing.Repeatedly:
		s.kids[0].reset(t.Trigger)
	}
}

// nextDeadline returns the earliest processing-time deadline in the tree, zero if none.
func (s *tstate) nextDeadline() time.Time {
	if s.finished {
		return time.Time{}
	}
	d := s.deadline
	for _, k := range s.kids {
		if kd := k.nextDeadline(); !kd.IsZero() && (d.IsZero() || kd.Before(d)) {
			d = kd
		}
	}
	return d
}

// mergeFrom folds the state of a merged-away session window into s.
func (s *tstate) mergeFrom(o *tstate) {
	s.count += o.count
	if !o.deadline.IsZero() && (s.deadline.IsZero() || o.deadline.Before(s.deadline)) {
		s.deadline = o.deadline
	}
	s.latched = s.latched || o.latched
	for i := range s.kids {
		if i < len(o.kids) {
			s.kids[i].mergeFrom(o.kids[i])
		}
	}
}
