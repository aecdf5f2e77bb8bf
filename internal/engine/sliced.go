package engine

import (
	"container/heap"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/windowing"
)

// Sliding windows over a combiner keep one partial aggregate per key and slice (a stretch of event time of width
// gcd(size, period)) instead of one per key and window: each element is added once, not size/period times, and a
// window's result is the merge of its slices when it fires. Late data for windows that have already fired goes
// to ordinary per-window panes, so panes and results are those of the plain definition.

func (p *producer[K, V, A, O]) pushSliced(e pipeline.Element[pipeline.KV[K, V]]) error {
	sl := p.op.sliding
	_, slice := sl.Slice(e.Time)
	first := firstWindowOf(sl, slice)
	if !p.op.expired(first, p.wm) {
		p.addPartial(e.Value.Key, slice, e.Value.Value)
		return nil
	}
	// Some windows of this element are past their allowed lateness: divert those copies, keep the rest.
	var buf [16]pipeline.Window
	live := false
	for _, w := range sl.AssignWindows(buf[:0], e.Time) {
		if p.op.expired(w, p.wm) {
			c := e
			c.Window = w
			if err := p.dropLate(c); err != nil {
				return err
			}
			continue
		}
		live = true
	}
	if live {
		p.addPartial(e.Value.Key, slice, e.Value.Value)
	}
	return nil
}

// firstWindowOf returns the earliest-ending window containing slice.
func firstWindowOf(sl windowing.Sliding, slice pipeline.Window) pipeline.Window {
	size, period, off := pipeline.Time(sl.Size.Milliseconds()), pipeline.Time(sl.Period.Milliseconds()), pipeline.Time(sl.Offset.Milliseconds())
	lo := slice.End - size // window starts s must satisfy s >= lo
	s := lo + mod(off-lo, period)
	return pipeline.Window{Start: s, End: s + size}
}

// lastWindowOf returns the latest-ending window containing slice.
func lastWindowOf(sl windowing.Sliding, slice pipeline.Window) pipeline.Window {
	size, period, off := pipeline.Time(sl.Size.Milliseconds()), pipeline.Time(sl.Period.Milliseconds()), pipeline.Time(sl.Offset.Milliseconds())
	s := slice.Start - mod(slice.Start-off, period)
	return pipeline.Window{Start: s, End: s + size}
}

func mod(a, b pipeline.Time) pipeline.Time {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

type sgroup[K comparable, A any] struct {
	w       pipeline.Window
	keys    map[K]*A
	ck      bool // changed since the last snapshot (listed in sliceState.ckSlices)
	spilled bool // some accumulators are in the spill store
}

type sliceState[K comparable, A any] struct {
	sl      windowing.Sliding
	width   pipeline.Time
	period  pipeline.Time
	size    pipeline.Time
	slices  map[pipeline.Time]*sgroup[K, A]
	pending map[pipeline.Time]bool // starts of windows not fired yet
	ends    timeHeap
	tmp     map[K]*A
	last    *sgroup[K, A]
	// Changes since the last snapshot: slices written whole (a slice is a short stretch of time: only the current
	// few change in an epoch), slices gone.
	ckSlices    []*sgroup[K, A]
	ckSliceGone []pipeline.Window
}

func newSliceState[K comparable, A any](o interface{ slidingFn() windowing.Sliding }) *sliceState[K, A] {
	sl := o.slidingFn()
	width, _ := sl.Slice(0)
	return &sliceState[K, A]{sl: sl, width: width, period: pipeline.Time(sl.Period.Milliseconds()),
		size: pipeline.Time(sl.Size.Milliseconds()), slices: map[pipeline.Time]*sgroup[K, A]{},
		pending: map[pipeline.Time]bool{}, tmp: map[K]*A{}}
}

func (o *ReduceOp[K, V, A, O]) slidingFn() windowing.Sliding { return o.sliding }

func (s *sliceState[K, A]) entries() int {
	n := 0
	for _, g := range s.slices {
		n += len(g.keys)
	}
	return n
}

// windowsOf calls fn for every window containing slice, earliest first.
func (s *sliceState[K, A]) windowsOf(slice pipeline.Window, fn func(w pipeline.Window)) {
	first := firstWindowOf(s.sl, slice)
	for st := first.Start; st <= slice.Start; st += s.period {
		fn(pipeline.Window{Start: st, End: st + s.size})
	}
}

func (s *sliceState[K, A]) add(c sliceHost[K, A], k K, slice pipeline.Window, a A, n int64) error {
	g := s.last
	if g == nil || g.w != slice {
		g = s.group(c, slice)
		s.last = g
	}
	// Windows of this slice that have already fired get this data as late panes.
	wm := c.watermark()
	if wm != pipeline.MinTime && firstWindowOf(s.sl, slice).End <= wm {
		var err error
		s.windowsOf(slice, func(w pipeline.Window) {
			if w.End <= wm && !c.isExpired(w) && err == nil {
				err = c.addLate(k, w, a, n, func() (A, bool, error) { return s.merged(c, k, w) })
			}
		})
		if err != nil {
			return err
		}
	}
	acc := g.keys[k]
	if acc == nil {
		v := c.create()
		acc = &v
		g.keys[k] = acc
	}
	*acc = c.merge(*acc, a)
	if !g.ck && c.tracking() {
		g.ck = true
		s.ckSlices = append(s.ckSlices, g)
	}
	return nil
}

// group returns the state of slice, creating it and registering its windows that have not fired yet.
func (s *sliceState[K, A]) group(c sliceHost[K, A], slice pipeline.Window) *sgroup[K, A] {
	if g := s.slices[slice.Start]; g != nil {
		return g
	}
	g := &sgroup[K, A]{w: slice, keys: make(map[K]*A, 64)}
	s.slices[slice.Start] = g
	wm := c.watermark()
	s.windowsOf(slice, func(w pipeline.Window) {
		if (w.End > wm || wm == pipeline.MinTime) && !s.pending[w.Start] {
			s.pending[w.Start] = true
			heap.Push(&s.ends, w.End)
		}
	})
	return g
}

// merged returns the merge of k's slices in w (into a fresh accumulator), and whether k has any.
func (s *sliceState[K, A]) merged(c sliceHost[K, A], k K, w pipeline.Window) (A, bool, error) {
	out := c.create()
	found := false
	for st := w.Start; st < w.End; st += s.width {
		g := s.slices[st]
		if g == nil {
			continue
		}
		if err := c.loadSlice(g); err != nil {
			return out, false, err
		}
		if a := g.keys[k]; a != nil {
			out, found = c.merge(out, *a), true
		}
	}
	return out, found, nil
}

// sliceHost is what the slice state needs from its consumer.
type sliceHost[K comparable, A any] interface {
	watermark() pipeline.Time
	isExpired(w pipeline.Window) bool
	addLate(k K, w pipeline.Window, a A, n int64, existing func() (A, bool, error)) error
	create() A
	merge(a, b A) A
	emitOnTime(k K, w pipeline.Window, a A) error
	tracking() bool
	loadSlice(g *sgroup[K, A]) error
	dropSpilledSlice(start pipeline.Time) error
}

func (c *consumer[K, V, A, O]) tracking() bool { return c.w.TrackChanges }

func (c *consumer[K, V, A, O]) watermark() pipeline.Time { return c.wm }

func (c *consumer[K, V, A, O]) isExpired(w pipeline.Window) bool { return c.op.expired(w, c.wm) }

func (c *consumer[K, V, A, O]) create() A { return c.op.agg.Create() }

func (c *consumer[K, V, A, O]) merge(a, b A) A { return c.op.agg.Merge(a, b) }

// addLate adds late data to the per-window pane of w, creating it as the continuation of the on-time pane that
// the slices produced (accumulating panes start from the window's contents so far).
func (c *consumer[K, V, A, O]) addLate(k K, w pipeline.Window, a A, n int64, existing func() (A, bool, error)) error {
	g := c.group(w)
	if g.spilled {
		if err := c.unspillKey(g, k); err != nil {
			return err
		}
	}
	p := g.keys[k]
	if p == nil {
		p = c.newPane()
		prev, ok, err := existing()
		if err != nil {
			return err
		}
		if ok {
			p.idx, p.nonSpec, p.onTimeDone = 1, 1, true
			if c.op.st.Accumulation == windowing.Accumulating {
				p.acc = c.op.agg.Merge(p.acc, prev)
			}
		}
		g.keys[k] = p
	}
	p.acc = c.op.agg.Merge(p.acc, a)
	p.fresh += n
	c.touch(g, k, p, n)
	return nil
}

func (c *consumer[K, V, A, O]) emitOnTime(k K, w pipeline.Window, a A) error {
	c.w.Current = c.op.name
	pn := pipeline.Pane{Index: 0, NonSpeculativeIndex: 0, Timing: pipeline.OnTime, First: true, Last: c.op.expired(w, c.wm)}
	if c.w.OnPane != nil { // every pane: the runner counts them, and keeps latency samples of panes fired before the end
		c.w.OnPane(c.op.name, w, pn)
	}
	return c.out.Push(pipeline.Element[pipeline.KV[K, O]]{
		Value:  pipeline.KV[K, O]{Key: k, Value: c.op.agg.Extract(a)},
		Time:   w.MaxTimestamp(),
		Window: w,
		Pane:   pn,
	})
}

// advance fires the windows the watermark has passed and drops slices no window needs any more.
func (s *sliceState[K, A]) advance(c sliceHost[K, A]) error {
	wm := c.watermark()
	if wm == pipeline.MinTime {
		return nil
	}
	for s.ends.Len() > 0 && s.ends[0] <= wm {
		end := heap.Pop(&s.ends).(pipeline.Time)
		w := pipeline.Window{Start: end - s.size, End: end}
		if !s.pending[w.Start] {
			continue
		}
		delete(s.pending, w.Start)
		clear(s.tmp)
		for st := w.Start; st < w.End; st += s.width {
			g := s.slices[st]
			if g == nil {
				continue
			}
			if err := c.loadSlice(g); err != nil {
				return err
			}
			for k, a := range g.keys {
				t := s.tmp[k]
				if t == nil {
					v := c.create()
					t = &v
					s.tmp[k] = t
				}
				*t = c.merge(*t, *a)
			}
		}
		for k, a := range s.tmp {
			if err := c.emitOnTime(k, w, *a); err != nil {
				return err
			}
		}
	}
	for st, g := range s.slices {
		if c.isExpired(lastWindowOf(s.sl, g.w)) {
			if g.spilled {
				if err := c.dropSpilledSlice(st); err != nil {
					return err
				}
			}
			delete(s.slices, st)
			if c.tracking() {
				s.ckSliceGone = append(s.ckSliceGone, g.w)
			}
			if s.last == g {
				s.last = nil
			}
		}
	}
	return nil
}

type timeHeap []pipeline.Time

func (h timeHeap) Len() int           { return len(h) }
func (h timeHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h timeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timeHeap) Push(x any)        { *h = append(*h, x.(pipeline.Time)) }
func (h *timeHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
