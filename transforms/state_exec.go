package transforms

import (
	"container/heap"
	"context"
	"fmt"
	"time"

	"github.com/kappaflow/kappa/internal/exec"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/windowing"
)

type keyState struct {
	cells  map[string]any
	timers map[string]timerSpec
}

type skey[K comparable] struct {
	k K
	w pipeline.Window
}

type stateOp[K comparable, V, Out any] struct {
	name, kind string
	st         *windowing.Strategy
	fn         StatefulDoFn[K, V, Out]
}

func statefulParDo[K comparable, V, Out any](s pipeline.Scope, o options, col pipeline.PCollection[KV[K, V]], fn StatefulDoFn[K, V, Out]) pipeline.PCollection[Out] {
	op := &stateOp[K, V, Out]{kind: o.name, st: windowing.Of(col), fn: fn}
	t := pipeline.AddTransform(s, o.name, op, col)
	if t != nil {
		op.name = t.Name()
	}
	out := pipeline.AddOutput[Out](s, t)
	if out.Valid() {
		out.Collection().SetWindowing(windowing.Materialized(op.st))
	}
	return out
}

func (o *stateOp[K, V, Out]) String() string { return o.kind }

type stateExchange[K comparable, V, Out any] struct {
	op   *stateOp[K, V, Out]
	cons []*stateConsumer[K, V, Out]
	n    int
	buf  [][][]pipeline.Element[KV[K, V]]
}

func (o *stateOp[K, V, Out]) NewExchange(workers int) (exec.Exchange, error) {
	ex := &stateExchange[K, V, Out]{op: o, n: workers, buf: make([][][]pipeline.Element[KV[K, V]], workers)}
	for i := range ex.buf {
		ex.buf[i] = make([][]pipeline.Element[KV[K, V]], workers)
	}
	return ex, nil
}

func (ex *stateExchange[K, V, Out]) Instantiate(w *exec.Worker, outs []any) ([]any, exec.Consumer, error) {
	e, err := newEmitter[Out](outs[0])
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", ex.op.name, err)
	}
	c := &stateConsumer[K, V, Out]{op: ex.op, ex: ex, w: w, emit: e.(*emitter[Out]), wm: pipeline.MinTime,
		keys: map[skey[K]]*keyState{}, x: windowing.NewExploder[KV[K, V]](ex.op.st)}
	c.emit.setCurrent(&c.meta)
	if len(ex.cons) < ex.n {
		ex.cons = make([]*stateConsumer[K, V, Out], ex.n)
	}
	ex.cons[w.Index] = c
	return []any{&stateProducer[K, V, Out]{c: c}}, c, nil
}

type stateProducer[K comparable, V, Out any] struct{ c *stateConsumer[K, V, Out] }

func (p *stateProducer[K, V, Out]) Push(e pipeline.Element[KV[K, V]]) error {
	c := p.c
	return c.x.Each(e, func(e pipeline.Element[KV[K, V]]) error {
		if c.expired(e.Window) {
			c.countLate(e.Window)
			return nil
		}
		d := 0
		if c.ex.n > 1 {
			d = int(hashOf(e.Value.Key) % uint64(c.ex.n))
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
	op    *stateOp[K, V, Out]
	ex    *stateExchange[K, V, Out]
	w     *exec.Worker
	emit  *emitter[Out]
	meta  metaOnly
	wm    pipeline.Time
	now   time.Time
	keys  map[skey[K]]*keyState
	x     *windowing.Exploder[KV[K, V]]
	event timerHeap[K]
	proc  timerHeap[K]
	gc    timerHeap[K]
	seq   uint64
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

func (c *stateConsumer[K, V, Out]) StateEntries() int { return len(c.keys) }

func (c *stateConsumer[K, V, Out]) state(k skey[K]) *keyState {
	ks := c.keys[k]
	if ks == nil {
		ks = &keyState{cells: map[string]any{}}
		c.keys[k] = ks
		if !k.w.IsGlobal() {
			c.push(&c.gc, timerEntry[K]{at: k.w.End.Add(c.op.st.AllowedLateness), key: k})
		}
	}
	return ks
}

func (c *stateConsumer[K, V, Out]) push(h *timerHeap[K], e timerEntry[K]) {
	c.seq++
	e.seq = c.seq
	heap.Push(h, e)
}

func (c *stateConsumer[K, V, Out]) context(k skey[K], ks *keyState) *StateContext[K] {
	return &StateContext[K]{key: k.k, ks: ks, w: k.w, wm: c.wm, now: c.now, sets: func(name string, t timerSpec) {
		if t.Clear {
			delete(ks.timers, name)
			return
		}
		if ks.timers == nil {
			ks.timers = map[string]timerSpec{}
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
			ks := c.state(k)
			c.meta = metaOnly{t: e.Time, w: e.Window, pane: e.Pane}
			c.w.Current = c.op.name
			err := c.op.fn.ProcessElement(c.w.Ctx, c.context(k, ks), pipeline.Element[V]{Value: e.Value.Value, Time: e.Time, Window: e.Window, Pane: e.Pane}, c.emit)
			if err == nil {
				err = c.emit.firstErr()
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
		return nil
	}
	spec, ok := ks.timers[te.name]
	if !ok || spec.Domain != domain || (domain == EventTime && spec.T != te.at) || (domain == ProcessingTime && !spec.PT.Equal(te.pt)) {
		return nil // cleared or moved since
	}
	delete(ks.timers, te.name)
	ts := te.at
	if domain == ProcessingTime {
		ts = max(c.wm, te.key.w.Start)
	}
	c.meta = metaOnly{t: ts, w: te.key.w, pane: pipeline.NoFiringPane}
	c.w.Current = c.op.name
	t := Timer{Name: te.name, Domain: domain, Time: te.at, ProcessingTime: te.pt, Window: te.key.w}
	err := c.op.fn.OnTimer(c.w.Ctx, c.context(te.key, ks), t, c.emit)
	if err == nil {
		err = c.emit.firstErr()
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
	}
	if c.wm == pipeline.MaxTime {
		clear(c.keys) // the global window ends with the input
	}
	return nil
}

var _ = context.Background

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
