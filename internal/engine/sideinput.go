package engine

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/kappaflow/kappa/internal/exec"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/windowing"
)

// A ParDo with side inputs is a keyed operator without keys: its main input stays on the worker that produced it,
// and every side input is broadcast to every worker, where each view keeps its contents per side window. The main
// input's window maps to one window of each side input (the side window containing the main window's last
// timestamp, as Beam's default window mapping). A main element is processed once every side window it maps to is
// ready — in batch mode once the side input's watermark has passed the side window's end (the window is
// complete), in stream mode as soon as the window has any data (or has ended empty) — and it is held until then.
// Held elements hold back the watermark downstream (exec.WatermarkHolder) and are in checkpoints.

// SideInput is one side input of a SideParDoOp: a view kind over a collection of some type (NewSideInput).
type SideInput interface {
	// Kind names the view kind ("AsMap", …).
	Kind() string
	strategy() *windowing.Strategy
	typeName() string
	newChannel(workers int) sideChannel
}

// NewSideInput returns a side input of kind over a collection of T windowed by st; newContents creates the
// contents of one side window.
func NewSideInput[T any](kind string, st *windowing.Strategy, newContents func() SideContents[T]) SideInput {
	return &sideInput[T]{kind: kind, st: st, newContents: newContents}
}

type sideInput[T any] struct {
	kind        string
	st          *windowing.Strategy
	newContents func() SideContents[T]
}

func (s *sideInput[T]) Kind() string                  { return s.kind }
func (s *sideInput[T]) strategy() *windowing.Strategy { return s.st }
func (s *sideInput[T]) typeName() string              { return pipeline.TypeName[T]() }

// sideWindowFn returns the window mapping of a side input windowed by st: main window → side window.
func sideWindowFn(main, st *windowing.Strategy) (func(pipeline.Window) pipeline.Window, error) {
	switch fn := st.WindowFn().(type) {
	case windowing.Global:
		return func(pipeline.Window) pipeline.Window { return pipeline.GlobalWindow }, nil
	case windowing.Sessions:
		return nil, fmt.Errorf("a side input cannot be windowed in sessions (%s): its windows are not known in advance", fn)
	default:
		if _, global := main.WindowFn().(windowing.Global); global {
			return nil, fmt.Errorf("the main input is in the global window but the side input is windowed (%s): window them alike, or the side input globally", fn)
		}
		// The mapping is shared by every worker's consumer: no buffer outside the call (a shared one was a data
		// race that gave wrong side windows with several workers).
		return func(w pipeline.Window) pipeline.Window {
			var arr [8]pipeline.Window
			buf := fn.AssignWindows(arr[:0], w.MaxTimestamp())
			best := buf[0]
			for _, x := range buf[1:] {
				if x.Start > best.Start {
					best = x
				}
			}
			return best
		}, nil
	}
}

// SideValues is what a DoFn with side inputs reads while it processes one element: the contents of each side
// input's window for that element (a SideContents implementation, nil when the window has no data).
type SideValues struct {
	views []any
	err   error
}

// View returns the contents of side input i for the element being processed (nil: an empty window).
func (s *SideValues) View(i int) any {
	if i < 0 || i >= len(s.views) {
		return nil
	}
	return s.views[i]
}

// Fail records an error (the first one) that the operator returns once the DoFn returns.
func (s *SideValues) Fail(err error) {
	if s.err == nil {
		s.err = err
	}
}

// SideProcessFunc calls a DoFn with side inputs on one element with the operator's emitters.
type SideProcessFunc[In any] func(ctx context.Context, e pipeline.Element[In], side *SideValues, outs []EmitterBase) error

// SideParDoSpec describes a ParDo with side inputs to NewSideParDo.
type SideParDoSpec[In any] struct {
	// Kind is the transform kind ("ParDoWithSide").
	Kind string
	// Strategy is the main input's windowing.
	Strategy *windowing.Strategy
	// Sides are the side inputs, in the order of the transform's inputs after the main one.
	Sides []SideInput
	// Fn is the user's DoFn value (NewWorker, Setup and Teardown as for ParDoSpec.Fn).
	Fn any
	// Bind turns a worker's DoFn value into the function called per element.
	Bind func(fn any) (SideProcessFunc[In], error)
	// Outputs creates one emitter per output, from its Pusher.
	Outputs []func(any) (EmitterBase, error)
}

// SideParDoOp is the operator of a ParDo with side inputs (an exec.KeyedOp).
type SideParDoOp[In any] struct {
	name string
	spec SideParDoSpec[In]
	maps []func(pipeline.Window) pipeline.Window
}

// NewSideParDo returns the operator of a ParDo with side inputs, or an error when a side input's windowing cannot
// be mapped from the main input's.
func NewSideParDo[In any](spec SideParDoSpec[In]) (*SideParDoOp[In], error) {
	o := &SideParDoOp[In]{name: spec.Kind, spec: spec}
	for i, s := range spec.Sides {
		fn, err := sideWindowFn(spec.Strategy, s.strategy())
		if err != nil {
			return nil, fmt.Errorf("side input %d (%s): %w", i, s.Kind(), err)
		}
		o.maps = append(o.maps, fn)
	}
	return o, nil
}

// String returns the kind.
func (o *SideParDoOp[In]) String() string { return o.spec.Kind }

// SetName sets the transform's full name.
func (o *SideParDoOp[In]) SetName(name string) { o.name = name }

// Fn returns the user's DoFn value.
func (o *SideParDoOp[In]) Fn() any { return o.spec.Fn }

// StateTypes names the types a checkpoint holds: held main elements and each side input's elements.
func (o *SideParDoOp[In]) StateTypes() map[string]string {
	m := map[string]string{"main": pipeline.TypeName[In]()}
	for i, s := range o.spec.Sides {
		m[fmt.Sprintf("side%d", i)] = s.Kind() + "[" + s.typeName() + "]"
	}
	return m
}

type sideExchange[In any] struct {
	op   *SideParDoOp[In]
	n    int
	chs  []sideChannel
	cons []*sideConsumer[In]
}

// NewExchange creates the broadcast buffers of the side inputs for workers workers.
func (o *SideParDoOp[In]) NewExchange(workers int) (exec.Exchange, error) {
	ex := &sideExchange[In]{op: o, n: workers, cons: make([]*sideConsumer[In], workers)}
	for _, s := range o.spec.Sides {
		ex.chs = append(ex.chs, s.newChannel(workers))
	}
	return ex, nil
}

func (ex *sideExchange[In]) Instantiate(w *exec.Worker, outs []any) ([]any, exec.Consumer, error) {
	o := ex.op
	if len(outs) != len(o.spec.Outputs) {
		return nil, nil, fmt.Errorf("%s: runner gave %d outputs, want %d", o.name, len(outs), len(o.spec.Outputs))
	}
	c := &sideConsumer[In]{op: o, w: w, fn: o.spec.Fn, mainWm: pipeline.MinTime, held: map[pipeline.Window]*heldGroup[In]{},
		sideWm: slices.Repeat([]pipeline.Time{pipeline.MinTime}, len(ex.chs)), x: windowing.NewExploder[In](o.spec.Strategy)}
	if pw, ok := c.fn.(perWorker); ok {
		c.fn = pw.NewWorker()
	}
	process, err := o.spec.Bind(c.fn)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", o.name, err)
	}
	c.process = process
	for i, mk := range o.spec.Outputs {
		e, err := mk(outs[i])
		if err != nil {
			return nil, nil, fmt.Errorf("%s: output %d: %w", o.name, i, err)
		}
		e.setCurrent(&c.meta)
		c.emits = append(c.emits, e)
	}
	inputs := []any{&mainProducer[In]{c: c}}
	for i, ch := range ex.chs {
		c.stores = append(c.stores, ch.newStore(w.Index, o.maps[i]))
		inputs = append(inputs, ch.producer(w.Index))
	}
	c.side.views = make([]any, len(ex.chs))
	ex.cons[w.Index] = c
	return inputs, c, nil
}

// mainProducer keeps the main input on its worker, windows materialised.
type mainProducer[In any] struct{ c *sideConsumer[In] }

func (p *mainProducer[In]) Push(e pipeline.Element[In]) error {
	return p.c.x.Each(e, p.c.addPending)
}

// sideChannel holds the broadcast buffers of one side input.
type sideChannel interface {
	producer(worker int) any
	newStore(worker int, mapWin func(pipeline.Window) pipeline.Window) sideStore
}

// sideStore is one worker's copy of one side input: contents per side window.
type sideStore interface {
	// ingest applies what the producers broadcast since the last call; expired tells side windows whose state is
	// gone. It returns how many elements were dropped as late.
	ingest(expired func(pipeline.Window) bool) int
	mapWindow(main pipeline.Window) pipeline.Window
	has(w pipeline.Window) bool
	contents(w pipeline.Window) any
	// gc drops the windows for which gone returns true.
	gc(gone func(pipeline.Window) bool)
	windows() int
	snapshotter
}

type sideChan[T any] struct {
	in  *sideInput[T]
	buf [][][]pipeline.Element[T] // [producer][consumer]
}

func (s *sideInput[T]) newChannel(workers int) sideChannel {
	ch := &sideChan[T]{in: s, buf: make([][][]pipeline.Element[T], workers)}
	for i := range ch.buf {
		ch.buf[i] = make([][]pipeline.Element[T], workers)
	}
	return ch
}

func (ch *sideChan[T]) producer(worker int) any {
	p := &sideProducer[T]{ch: ch, i: worker, x: windowing.NewExploder[T](ch.in.st)}
	p.oneFn = p.one
	return p
}

func (ch *sideChan[T]) newStore(worker int, mapWin func(pipeline.Window) pipeline.Window) sideStore {
	return &typedStore[T]{ch: ch, j: worker, mapWin: mapWin, wins: map[pipeline.Window]SideContents[T]{}}
}

// sideProducer broadcasts a side input's elements to every worker.
type sideProducer[T any] struct {
	ch    *sideChan[T]
	i     int
	x     *windowing.Exploder[T]
	oneFn func(pipeline.Element[T]) error
}

func (p *sideProducer[T]) Push(e pipeline.Element[T]) error { return p.x.Each(e, p.oneFn) }

func (p *sideProducer[T]) one(e pipeline.Element[T]) error {
	for d := range p.ch.buf[p.i] {
		p.ch.buf[p.i][d] = append(p.ch.buf[p.i][d], e)
	}
	return nil
}

type typedStore[T any] struct {
	ch     *sideChan[T]
	j      int
	mapWin func(pipeline.Window) pipeline.Window
	wins   map[pipeline.Window]SideContents[T]
	last   pipeline.Window // memo of mapWindow
	lastSW pipeline.Window
	memo   bool
}

func (s *typedStore[T]) ingest(expired func(pipeline.Window) bool) int {
	late := 0
	for i := range s.ch.buf {
		buf := s.ch.buf[i][s.j]
		for _, e := range buf {
			if !e.Window.IsGlobal() && expired(e.Window) {
				late++
				continue
			}
			c := s.wins[e.Window]
			if c == nil {
				c = s.ch.in.newContents()
				s.wins[e.Window] = c
			}
			c.Add(e)
		}
		clear(buf)
		s.ch.buf[i][s.j] = buf[:0]
	}
	return late
}

func (s *typedStore[T]) mapWindow(w pipeline.Window) pipeline.Window {
	if !s.memo || s.last != w {
		s.last, s.lastSW, s.memo = w, s.mapWin(w), true
	}
	return s.lastSW
}

func (s *typedStore[T]) has(w pipeline.Window) bool { return s.wins[w] != nil }

func (s *typedStore[T]) contents(w pipeline.Window) any {
	if c := s.wins[w]; c != nil {
		return c
	}
	return nil
}

func (s *typedStore[T]) gc(gone func(pipeline.Window) bool) {
	for w := range s.wins {
		if !w.IsGlobal() && gone(w) {
			delete(s.wins, w)
		}
	}
}

func (s *typedStore[T]) windows() int { return len(s.wins) }

// heldGroup holds the main elements of one main window until its side windows are ready.
type heldGroup[In any] struct {
	es  []pipeline.Element[In]
	min pipeline.Time
}

type sideConsumer[In any] struct {
	op      *SideParDoOp[In]
	w       *exec.Worker
	fn      any
	process SideProcessFunc[In]
	emits   []EmitterBase
	meta    Meta
	side    SideValues
	stores  []sideStore
	x       *windowing.Exploder[In]
	pending []pipeline.Element[In]
	held    map[pipeline.Window]*heldGroup[In]
	nHeld   int
	mainWm  pipeline.Time
	sideWm  []pipeline.Time
	batch   bool
}

func (c *sideConsumer[In]) addPending(e pipeline.Element[In]) error {
	c.pending = append(c.pending, e)
	return nil
}

// Flush has nothing to do: the main input stays on its worker and side inputs are broadcast as they come.
func (c *sideConsumer[In]) Flush() error { return nil }

// StateEntries counts held main elements and side windows.
func (c *sideConsumer[In]) StateEntries() int {
	n := c.nHeld
	for _, s := range c.stores {
		n += s.windows()
	}
	return n
}

// Process applies the side inputs' new elements; main elements wait for the watermarks (Advance).
func (c *sideConsumer[In]) Process() error {
	late := 0
	for i, s := range c.stores {
		late += s.ingest(func(w pipeline.Window) bool { return c.sideExpired(i, w) })
	}
	if late > 0 && c.w.Index == 0 { // every worker drops the same broadcast elements: count them once
		c.countLate(late, "side input data behind the allowed lateness of its window")
	}
	return nil
}

// Advance is AdvanceInputs with one watermark for every input, in stream mode.
func (c *sideConsumer[In]) Advance(wm pipeline.Time, now time.Time) error {
	wms := slices.Repeat([]pipeline.Time{wm}, 1+len(c.stores))
	return c.AdvanceInputs(exec.InputAdvance{Watermarks: wms, Now: now})
}

// AdvanceInputs processes the main elements whose side windows are ready, holds the others, and drops side
// windows no main element can map to any more.
func (c *sideConsumer[In]) AdvanceInputs(a exec.InputAdvance) error {
	if len(a.Watermarks) != 1+len(c.stores) {
		return fmt.Errorf("%s: %d input watermarks for %d inputs", c.op.name, len(a.Watermarks), 1+len(c.stores))
	}
	c.batch = a.Batch
	// 0. This micro-batch's main elements arrived before the watermarks below: they are late only if their side
	// window was already gone under the previous ones (an element read with the last records of a bounded input
	// is on time, though the watermarks jump to +inf in the same micro-batch).
	late := 0
	if len(c.pending) > 0 && c.mainWm != pipeline.MinTime {
		kept := c.pending[:0]
		for _, e := range c.pending {
			if c.mainExpired(e.Window) {
				late++
				continue
			}
			kept = append(kept, e)
		}
		clear(c.pending[len(kept):])
		c.pending = kept
	}
	c.mainWm = max(c.mainWm, a.Watermarks[0])
	for i := range c.sideWm {
		c.sideWm[i] = max(c.sideWm[i], a.Watermarks[1+i])
	}
	// 1. Held elements whose side windows became ready, oldest main window first.
	if len(c.held) > 0 {
		var ready []pipeline.Window
		for w := range c.held {
			if c.ready(w) {
				ready = append(ready, w)
			}
		}
		slices.SortFunc(ready, func(a, b pipeline.Window) int {
			if a.Start != b.Start {
				return compareTime(a.Start, b.Start)
			}
			return compareTime(a.End, b.End)
		})
		for _, w := range ready {
			g := c.held[w]
			delete(c.held, w)
			c.nHeld -= len(g.es)
			for _, e := range g.es {
				if err := c.one(e); err != nil {
					return err
				}
			}
		}
	}
	// 2. This micro-batch's main elements.
	for i := range c.pending {
		e := c.pending[i]
		switch {
		case c.ready(e.Window):
			if err := c.one(e); err != nil {
				return err
			}
		default:
			g := c.held[e.Window]
			if g == nil {
				g = &heldGroup[In]{min: e.Time}
				c.held[e.Window] = g
			}
			g.es = append(g.es, e)
			g.min = min(g.min, e.Time)
			c.nHeld++
		}
	}
	clear(c.pending)
	c.pending = c.pending[:0]
	if late > 0 {
		c.countLate(late, "main input data whose side window has expired")
	}
	// 3. Side windows that no main element can reach any more.
	for i, s := range c.stores {
		s.gc(func(w pipeline.Window) bool { return c.sideExpired(i, w) })
	}
	return nil
}

func compareTime(a, b pipeline.Time) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ready reports whether every side window main window w maps to is ready.
func (c *sideConsumer[In]) ready(w pipeline.Window) bool {
	for i, s := range c.stores {
		sw := s.mapWindow(w)
		if c.sideWm[i] >= sw.End && c.sideWm[i] != pipeline.MinTime {
			continue // complete
		}
		if !c.batch && s.has(sw) {
			continue // stream mode: the latest pane
		}
		return false
	}
	return true
}

// sideExpired reports whether side window w of side input i can be dropped: complete, past the side input's
// allowed lateness, and past the main input's allowed lateness (no main element may map to it any more).
func (c *sideConsumer[In]) sideExpired(i int, w pipeline.Window) bool {
	if w.IsGlobal() || c.mainWm == pipeline.MinTime || c.sideWm[i] == pipeline.MinTime {
		return false
	}
	return c.sideWm[i] >= w.End.Add(c.op.spec.Sides[i].strategy().AllowedLateness) &&
		c.mainWm >= w.End.Add(c.op.spec.Strategy.AllowedLateness)
}

// mainExpired reports whether a main element of window w maps to a side window whose state is gone.
func (c *sideConsumer[In]) mainExpired(w pipeline.Window) bool {
	for i, s := range c.stores {
		if c.sideExpired(i, s.mapWindow(w)) {
			return true
		}
	}
	return false
}

func (c *sideConsumer[In]) countLate(n int, what string) {
	if c.w.Late == nil {
		c.w.Late = map[string]int64{}
	}
	before := c.w.Late[c.op.name]
	c.w.Late[c.op.name] = before + int64(n)
	if before == 0 && c.w.Logger != nil {
		c.w.Logger.Warn("dropping "+what, "transform", c.op.name, "main_watermark", c.mainWm.String())
	}
}

// one calls the DoFn on e with the contents of its side windows.
func (c *sideConsumer[In]) one(e pipeline.Element[In]) error {
	for i, s := range c.stores {
		c.side.views[i] = s.contents(s.mapWindow(e.Window))
	}
	c.side.err = nil
	c.meta = Meta{T: e.Time, W: e.Window, Pane: e.Pane}
	c.w.Current = c.op.name
	err := c.process(c.w.Ctx, e, &c.side, c.emits)
	if err == nil {
		err = c.side.err
	}
	for _, em := range c.emits {
		if ferr := em.FirstErr(); err == nil {
			err = ferr
		}
	}
	clear(c.side.views)
	if err != nil {
		return fmt.Errorf("%s: %w", c.op.name, err)
	}
	return nil
}

// Hold is the smallest timestamp of the held main elements (exec.WatermarkHolder).
func (c *sideConsumer[In]) Hold() pipeline.Time {
	h := pipeline.MaxTime
	for _, g := range c.held {
		h = min(h, g.min)
	}
	return h
}

// Start calls the DoFn's Setup.
func (c *sideConsumer[In]) Start(ctx context.Context) error {
	if s, ok := c.fn.(setupper); ok {
		c.w.Current = c.op.name
		if err := s.Setup(ctx); err != nil {
			return fmt.Errorf("%s: setup: %w", c.op.name, err)
		}
	}
	return nil
}

// EndOfBatch does nothing.
func (c *sideConsumer[In]) EndOfBatch(context.Context) error { return nil }

// Finish calls the DoFn's Teardown.
func (c *sideConsumer[In]) Finish(ctx context.Context) error {
	if t, ok := c.fn.(teardowner); ok {
		c.w.Current = c.op.name
		if err := t.Teardown(ctx); err != nil {
			return fmt.Errorf("%s: teardown: %w", c.op.name, err)
		}
	}
	return nil
}
