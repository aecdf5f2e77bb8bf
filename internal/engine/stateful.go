package engine

import (
	"container/heap"
	"context"
	"fmt"
	"hash/maphash"
	"time"

	"github.com/kappaflow/kappa/internal/exec"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/windowing"
)

type keyState struct {
	cells  map[string]any
	timers map[string]TimerSpec
	ck     bool // changed since the last snapshot (listed in stateConsumer.ckKeys)
}

// TimeDomain says which clock a timer follows (transforms.TimeDomain has the same values).
type TimeDomain uint8

const (
	// EventTime timers fire when the input watermark reaches their time.
	EventTime TimeDomain = iota
	// ProcessingTime timers fire when the runner's clock reaches their time.
	ProcessingTime
)

// TimerSpec sets, moves or clears a timer.
type TimerSpec struct {
	Domain TimeDomain
	T      pipeline.Time // event-time timers
	PT     time.Time     // processing-time timers
	Clear  bool
	// Output, when HasOutput is set, is the earliest timestamp the event-time timer's callback emits, before T
	// (Beam's output timestamp): runners that hold the output watermark per timer (Beam) hold it there instead
	// of at T, so that what the callback emits is not late downstream. runners/local does not use it (its
	// timers' output is processed downstream before the watermark passes T), nor keeps it in snapshots. On Beam
	// the callback's FiredTimer.Time is then Output, not T: Beam Go passes a timer's output timestamp to OnTimer.
	Output    pipeline.Time
	HasOutput bool
}

// FiredTimer is a timer that fired.
type FiredTimer struct {
	Name           string
	Domain         TimeDomain
	Time           pipeline.Time
	ProcessingTime time.Time
	Window         pipeline.Window
}

// KeyContext is what a stateful DoFn sees of the key and window being processed: its state cells and timers.
type KeyContext[K comparable] struct {
	// Key is the key.
	Key K
	// Window is the window whose state is in use.
	Window pipeline.Window
	// Watermark is the input watermark.
	Watermark pipeline.Time
	// Now is the processing time.
	Now  time.Time
	ks   *keyState
	sets func(name string, t TimerSpec)
}

// Cells returns the state cells, by state name.
func (kc *KeyContext[K]) Cells() map[string]any { return kc.ks.cells }

// SetTimer sets, moves or clears the timer name of this key and window.
func (kc *KeyContext[K]) SetTimer(name string, t TimerSpec) { kc.sets(name, t) }

// StatefulFn is a stateful DoFn as the engine calls it.
type StatefulFn[K comparable, V, Out any] struct {
	// Process is called for every element, in order of arrival per key.
	Process func(ctx context.Context, kc *KeyContext[K], e pipeline.Element[V], emit *Emitter[Out]) error
	// OnTimer is called for every timer that fires.
	OnTimer func(ctx context.Context, kc *KeyContext[K], t FiredTimer, emit *Emitter[Out]) error
}

type skey[K comparable] struct {
	k K
	w pipeline.Window
}

// StatefulOp is the keyed operator of a stateful ParDo: a shuffle by key, then state and timers per key and
// window.
type StatefulOp[K comparable, V, Out any] struct {
	name, kind string
	st         *windowing.Strategy
	fn         StatefulFn[K, V, Out]
}

// NewStateful returns the operator of StatefulParDo over an input with strategy st.
func NewStateful[K comparable, V, Out any](kind string, st *windowing.Strategy, fn StatefulFn[K, V, Out]) *StatefulOp[K, V, Out] {
	return &StatefulOp[K, V, Out]{kind: kind, st: st, fn: fn}
}

// String returns the kind.
func (o *StatefulOp[K, V, Out]) String() string { return o.kind }

// SetName sets the transform's full name.
func (o *StatefulOp[K, V, Out]) SetName(name string) { o.name = name }

// StateTypes names the key type (state cells hold values of any type coder.Of encodes, see cells.go).
func (o *StatefulOp[K, V, Out]) StateTypes() map[string]string {
	return map[string]string{"key": pipeline.TypeName[K]()}
}

type stateExchange[K comparable, V, Out any] struct {
	op   *StatefulOp[K, V, Out]
	seed maphash.Seed
	cons []*stateConsumer[K, V, Out]
	n    int
	buf  [][][]pipeline.Element[pipeline.KV[K, V]]
}

// NewExchange creates the buffers between the producing and consuming sides.
func (o *StatefulOp[K, V, Out]) NewExchange(workers int) (exec.Exchange, error) {
	ex := &stateExchange[K, V, Out]{op: o, seed: maphash.MakeSeed(), n: workers, buf: make([][][]pipeline.Element[pipeline.KV[K, V]], workers)}
	for i := range ex.buf {
		ex.buf[i] = make([][]pipeline.Element[pipeline.KV[K, V]], workers)
	}
	return ex, nil
}

func (ex *stateExchange[K, V, Out]) Instantiate(w *exec.Worker, outs []any) ([]any, exec.Consumer, error) {
	e, err := NewEmitter[Out](outs[0])
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", ex.op.name, err)
	}
	c := &stateConsumer[K, V, Out]{op: ex.op, ex: ex, w: w, emit: e.(*Emitter[Out]), wm: pipeline.MinTime,
		keys: map[skey[K]]*keyState{}, x: windowing.NewExploder[pipeline.KV[K, V]](ex.op.st)}
	c.emit.setCurrent(&c.meta)
	if len(ex.cons) < ex.n {
		ex.cons = make([]*stateConsumer[K, V, Out], ex.n)
	}
	ex.cons[w.Index] = c
	return []any{&stateProducer[K, V, Out]{c: c}}, c, nil
}

type stateProducer[K comparable, V, Out any] struct{ c *stateConsumer[K, V, Out] }

// PushBatch takes a chunk of elements (see Push).
func (p *stateProducer[K, V, Out]) PushBatch(es []pipeline.Element[pipeline.KV[K, V]]) error {
	for i := range es {
		if err := p.Push(es[i]); err != nil {
			return err
		}
	}
	return nil
}

func (p *stateProducer[K, V, Out]) Push(e pipeline.Element[pipeline.KV[K, V]]) error {
	c := p.c
	return c.x.Each(e, func(e pipeline.Element[pipeline.KV[K, V]]) error {
		if c.expired(e.Window) {
			c.countLate(e.Window)
			return nil
		}
		d := 0
		if c.ex.n > 1 {
			d = int(hashOf(c.ex.seed, e.Value.Key) % uint64(c.ex.n))
		}
		c.ex.buf[c.w.Index][d] = append(c.ex.buf[c.w.Index][d], e)
		return nil
	})
}

type timerEntry[K comparable] struct {
	at   pipeline.Time
	pt   time.Time
	seq  uint64
	key  skey[K]
	name string
}

type stateConsumer[K comparable, V, Out any] struct {
	op    *StatefulOp[K, V, Out]
	ex    *stateExchange[K, V, Out]
	w     *exec.Worker
	emit  *Emitter[Out]
	meta  Meta
	wm    pipeline.Time
	now   time.Time
	keys  map[skey[K]]*keyState
	x     *windowing.Exploder[pipeline.KV[K, V]]
	event timerHeap[K]
	proc  timerHeap[K]
	gc    timerHeap[K]
	seq   uint64
	// Changes since the last snapshot, for incremental checkpoints.
	ckKeys         []skey[K]
	ckGone         []skey[K]
	ckAllGone      bool
	ckOverflow     bool
	sp             *stateSpill[K]   // when state has been spilled
	spilledChanged map[skey[K]]bool // keys whose changed state went to disk since the last snapshot
	sweep          []skey[K]        // keys left to check for expired state in the current pass
}

// Expiring is implemented by state cell values with a time to live (transforms.TTL): ExpireBefore removes what
// has expired at watermark wm and processing time now, and reports whether the whole value has.
type Expiring interface {
	ExpireBefore(wm pipeline.Time, now time.Time) bool
}

// sweepPerAdvance is how many keys each Advance checks for expired state.
const sweepPerAdvance = 1024

// expire removes the expired cells of k's state and reports whether any went.
func (c *stateConsumer[K, V, Out]) expire(ks *keyState) bool {
	gone := false
	for name, v := range ks.cells {
		if r, ok := v.(*rawCell); ok { // restored, its type not known when it was: decode it once it is
			if iv, ok := cellsByName.Load(r.name); ok && iv.(*cellInfo).shape == r.shape {
				if x, err := iv.(*cellInfo).decode(r.b); err == nil {
					ks.cells[name], v = x, x
				}
			}
		}
		if e, ok := v.(Expiring); ok && e.ExpireBefore(c.wm, c.now) {
			delete(ks.cells, name)
			gone = true
		}
	}
	return gone
}

// sweepExpired checks a few keys for expired state (background TTL cleanup); a key left with nothing goes.
func (c *stateConsumer[K, V, Out]) sweepExpired() {
	if len(c.sweep) == 0 {
		if len(c.keys) == 0 {
			return
		}
		c.sweep = make([]skey[K], 0, len(c.keys))
		for k := range c.keys {
			c.sweep = append(c.sweep, k)
		}
	}
	n := min(sweepPerAdvance, len(c.sweep))
	for _, k := range c.sweep[len(c.sweep)-n:] {
		ks := c.keys[k]
		if ks == nil || !c.expire(ks) {
			continue
		}
		if len(ks.cells) == 0 && len(ks.timers) == 0 {
			delete(c.keys, k)
			if c.w.TrackChanges {
				c.ckGone = append(c.ckGone, k)
			}
			continue
		}
		c.mark(k, ks)
	}
	clear(c.sweep[len(c.sweep)-n:])
	c.sweep = c.sweep[:len(c.sweep)-n]
}

// mark records that the state of k changed since the last snapshot.
func (c *stateConsumer[K, V, Out]) mark(k skey[K], ks *keyState) {
	if ks.ck || !c.w.TrackChanges || c.ckOverflow {
		return
	}
	if len(c.ckKeys) >= maxTracked {
		c.ckOverflow = true
		clear(c.ckKeys)
		c.ckKeys = nil
		return
	}
	ks.ck = true
	c.ckKeys = append(c.ckKeys, k)
}

func (c *stateConsumer[K, V, Out]) expired(w pipeline.Window) bool {
	return c.wm != pipeline.MinTime && c.wm >= w.End.Add(c.op.st.AllowedLateness)
}

func (c *stateConsumer[K, V, Out]) countLate(w pipeline.Window) {
	if c.w.Late == nil {
		c.w.Late = map[string]int64{}
	}
	n := c.w.Late[c.op.name]
	c.w.Late[c.op.name] = n + 1
	if n == 0 && c.w.Logger != nil {
		c.w.Logger.Warn("dropping data behind the allowed lateness", "transform", c.op.name, "window", w.String(), "watermark", c.wm.String())
	}
}

func (c *stateConsumer[K, V, Out]) Flush() error { return nil }

// encodes reports whether the state is encoded (checkpointed or spilled): its cells must then hold types the
// coder encodes.
func (c *stateConsumer[K, V, Out]) encodes() bool { return c.w.TrackChanges || c.w.NewSpill != nil }

func (c *stateConsumer[K, V, Out]) StateEntries() int { return len(c.keys) }

func (c *stateConsumer[K, V, Out]) state(k skey[K]) (*keyState, error) {
	ks := c.keys[k]
	if ks == nil {
		ks, err := c.load(k)
		if err != nil || ks != nil {
			return ks, err
		}
		ks = &keyState{cells: map[string]any{}}
		c.keys[k] = ks
		if !k.w.IsGlobal() {
			c.push(&c.gc, timerEntry[K]{at: k.w.End.Add(c.op.st.AllowedLateness), key: k})
		}
		return ks, nil
	}
	return ks, nil
}

func (c *stateConsumer[K, V, Out]) push(h *timerHeap[K], e timerEntry[K]) {
	c.seq++
	e.seq = c.seq
	heap.Push(h, e)
}

func (c *stateConsumer[K, V, Out]) context(k skey[K], ks *keyState) *KeyContext[K] {
	return &KeyContext[K]{Key: k.k, ks: ks, Window: k.w, Watermark: c.wm, Now: c.now, sets: func(name string, t TimerSpec) {
		if t.Clear {
			delete(ks.timers, name)
			return
		}
		if ks.timers == nil {
			ks.timers = map[string]TimerSpec{}
		}
		ks.timers[name] = t
		if t.Domain == EventTime {
			c.push(&c.event, timerEntry[K]{at: t.T, key: k, name: name})
		} else {
			c.push(&c.proc, timerEntry[K]{pt: t.PT, key: k, name: name})
		}
	}}
}

func (c *stateConsumer[K, V, Out]) Process() error {
	c.now = c.w.Now()
	for i := range c.ex.n {
		buf := c.ex.buf[i][c.w.Index]
		for _, e := range buf {
			k := skey[K]{k: e.Value.Key, w: e.Window}
			ks, err := c.state(k)
			if err != nil {
				return err
			}
			c.mark(k, ks)
			c.meta = Meta{T: e.Time, W: e.Window, Pane: e.Pane}
			c.w.Current = c.op.name
			err = c.op.fn.Process(c.w.Ctx, c.context(k, ks), pipeline.Element[V]{Value: e.Value.Value, Time: e.Time, Window: e.Window, Pane: e.Pane}, c.emit)
			if err == nil {
				err = c.emit.FirstErr()
			}
			if err == nil && refusedCells.Load() > 0 && c.encodes() {
				err = checkCells(ks.cells)
			}
			if err != nil {
				return fmt.Errorf("%s: key %v: %w", c.op.name, e.Value.Key, err)
			}
		}
		clear(buf)
		c.ex.buf[i][c.w.Index] = buf[:0]
	}
	return nil
}

func (c *stateConsumer[K, V, Out]) fire(te timerEntry[K], domain TimeDomain) error {
	ks := c.keys[te.key]
	if ks == nil {
		var err error
		if ks, err = c.load(te.key); err != nil || ks == nil {
			return err
		}
	}
	spec, ok := ks.timers[te.name]
	if !ok || spec.Domain != domain || (domain == EventTime && spec.T != te.at) || (domain == ProcessingTime && !spec.PT.Equal(te.pt)) {
		return nil // cleared or moved since
	}
	delete(ks.timers, te.name)
	c.mark(te.key, ks)
	ts := te.at
	if domain == ProcessingTime {
		ts = max(c.wm, te.key.w.Start)
	}
	c.meta = Meta{T: ts, W: te.key.w, Pane: pipeline.NoFiringPane}
	c.w.Current = c.op.name
	t := FiredTimer{Name: te.name, Domain: domain, Time: te.at, ProcessingTime: te.pt, Window: te.key.w}
	err := c.op.fn.OnTimer(c.w.Ctx, c.context(te.key, ks), t, c.emit)
	if err == nil {
		err = c.emit.FirstErr()
	}
	if err == nil && refusedCells.Load() > 0 && c.encodes() {
		err = checkCells(ks.cells)
	}
	if err != nil {
		return fmt.Errorf("%s: key %v: timer %q: %w", c.op.name, te.key.k, te.name, err)
	}
	return nil
}

func (c *stateConsumer[K, V, Out]) Advance(wm pipeline.Time, now time.Time) error {
	if wm > c.wm {
		c.wm = wm
	}
	c.now = now
	if err := c.loadDueTimers(c.wm, now); err != nil {
		return err
	}
	for c.event.Len() > 0 && c.event.items[0].at <= c.wm {
		te := heap.Pop(&c.event).(timerEntry[K])
		if err := c.fire(te, EventTime); err != nil {
			return err
		}
	}
	for c.proc.Len() > 0 && !c.proc.items[0].pt.After(now) {
		te := heap.Pop(&c.proc).(timerEntry[K])
		if err := c.fire(te, ProcessingTime); err != nil {
			return err
		}
	}
	for c.gc.Len() > 0 && c.gc.items[0].at <= c.wm && c.wm != pipeline.MinTime {
		te := heap.Pop(&c.gc).(timerEntry[K])
		delete(c.keys, te.key)
		if err := c.dropSpilled(te.key); err != nil {
			return err
		}
		if c.w.TrackChanges {
			c.ckGone = append(c.ckGone, te.key)
		}
	}
	c.sweepExpired()
	if c.wm == pipeline.MaxTime && (len(c.keys) > 0 || (c.sp != nil && c.sp.keys)) {
		clear(c.keys) // the global window ends with the input
		if c.sp != nil && c.sp.keys {
			if err := c.sp.store.DeletePrefix([]byte{stateKey}); err != nil {
				return err
			}
			c.sp.keys = false
		}
		c.ckAllGone = true
	}
	return nil
}

type timerHeap[K comparable] struct{ items []timerEntry[K] }

func (h *timerHeap[K]) Len() int { return len(h.items) }
func (h *timerHeap[K]) Less(i, j int) bool {
	a, b := h.items[i], h.items[j]
	if a.at != b.at {
		return a.at < b.at
	}
	if !a.pt.Equal(b.pt) {
		return a.pt.Before(b.pt)
	}
	return a.seq < b.seq
}
func (h *timerHeap[K]) Swap(i, j int) { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *timerHeap[K]) Push(x any)    { h.items = append(h.items, x.(timerEntry[K])) }
func (h *timerHeap[K]) Pop() any {
	n := len(h.items)
	x := h.items[n-1]
	h.items[n-1] = timerEntry[K]{}
	h.items = h.items[:n-1]
	return x
}
