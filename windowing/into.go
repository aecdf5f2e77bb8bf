package windowing

import (
	"fmt"
	"time"

	"github.com/kappaflow/kappa/internal/exec"
	"github.com/kappaflow/kappa/pipeline"
)

// Option configures Into.
type Option interface{ apply(*Strategy) }

type optionFunc func(*Strategy)

func (f optionFunc) apply(s *Strategy) { f(s) }

// WithTrigger sets when panes fire (default: Default).
func WithTrigger(t Trigger) Option { return optionFunc(func(s *Strategy) { s.Trigger = t }) }

// AllowedLateness lets data arrive up to d behind the watermark and still update (and re-fire) its window; data
// later than that is dropped, counted and logged, or sent to a late-data output where one was asked for.
// Default 0.
func AllowedLateness(d time.Duration) Option {
	return optionFunc(func(s *Strategy) { s.AllowedLateness = d })
}

// AccumulatingPanes makes every pane hold all data of its window so far.
func AccumulatingPanes() Option {
	return optionFunc(func(s *Strategy) { s.Accumulation = Accumulating })
}

// DiscardingPanes makes every pane hold only the data since the previous pane (the default).
func DiscardingPanes() Option { return optionFunc(func(s *Strategy) { s.Accumulation = Discarding }) }

// OnTimeIfNonEmpty suppresses empty on-time panes (see Strategy.OnTimeIfNonEmpty).
func OnTimeIfNonEmpty() Option { return optionFunc(func(s *Strategy) { s.OnTimeIfNonEmpty = true }) }

// Into windows col with fn: downstream groupings (GroupByKey, CombinePerKey, CoGroupByKey, joins) group per key and
// window, firing panes as the trigger says.
func Into[T any](s pipeline.Scope, col pipeline.PCollection[T], fn WindowFn, opts ...Option) pipeline.PCollection[T] {
	st := &Strategy{Fn: fn}
	for _, o := range opts {
		o.apply(st)
	}
	name := "WindowInto"
	if fn == nil {
		s.Errorf("%s: nil WindowFn", name)
		return pipeline.PCollection[T]{}
	}
	if err := fn.Validate(); err != nil {
		s.Errorf("%s: %w", name, err)
		return pipeline.PCollection[T]{}
	}
	if err := ValidateTrigger(st.TriggerOrDefault()); err != nil {
		s.Errorf("%s: trigger: %w", name, err)
		return pipeline.PCollection[T]{}
	}
	if st.AllowedLateness < 0 {
		s.Errorf("%s: negative allowed lateness %v", name, st.AllowedLateness)
		return pipeline.PCollection[T]{}
	}
	_, st.Deferred = fn.(Sliding)
	t := pipeline.AddTransform(s, name, &intoOp[T]{fn: fn, deferred: st.Deferred, st: st}, col)
	out := pipeline.AddOutput[T](s, t)
	if out.Valid() {
		out.Collection().SetWindowing(st)
	}
	return out
}

type intoOp[T any] struct {
	fn       WindowFn
	deferred bool
	st       *Strategy
}

func (o *intoOp[T]) String() string { return "WindowInto(" + o.fn.String() + ")" }

// IntoStrategy returns the *Strategy of the operator's output (internal/exec.WindowIntoOp).
func (o *intoOp[T]) IntoStrategy() any { return o.st }

func (o *intoOp[T]) Instantiate(w *exec.Worker, outs []any) (any, error) {
	out, ok := outs[0].(exec.Pusher[T])
	if !ok {
		return nil, fmt.Errorf("WindowInto: output accepts %T", outs[0])
	}
	switch fn := o.fn.(type) {
	case Fixed:
		size := pipeline.Time(fn.Size.Milliseconds())
		off := pipeline.Time(fn.Offset.Milliseconds())
		return &intoFixed[T]{out: out, size: size, off: off}, nil
	case Global:
		return &intoSingle[T]{out: out, assign: func(pipeline.Time) pipeline.Window { return pipeline.GlobalWindow }}, nil
	case Sessions:
		gap := fn.Gap
		return &intoSingle[T]{out: out, assign: func(t pipeline.Time) pipeline.Window {
			return pipeline.Window{Start: t, End: t.Add(gap)}
		}}, nil
	}
	if o.deferred {
		return &intoDeferred[T]{out: out}, nil
	}
	return nil, fmt.Errorf("WindowInto: unsupported window function %v", o.fn)
}

type intoFixed[T any] struct {
	out       exec.Pusher[T]
	size, off pipeline.Time
}

func (o *intoFixed[T]) Push(e pipeline.Element[T]) error {
	m := (e.Time - o.off) % o.size
	if m < 0 {
		m += o.size
	}
	e.Window = pipeline.Window{Start: e.Time - m, End: e.Time - m + o.size}
	e.Pane = pipeline.NoFiringPane
	return o.out.Push(e)
}

// PushBatch assigns the chunk's windows in place and passes it on.
func (o *intoFixed[T]) PushBatch(es []pipeline.Element[T]) error {
	for i := range es {
		e := &es[i]
		m := (e.Time - o.off) % o.size
		if m < 0 {
			m += o.size
		}
		e.Window = pipeline.Window{Start: e.Time - m, End: e.Time - m + o.size}
		e.Pane = pipeline.NoFiringPane
	}
	return exec.PushAll(o.out, es)
}

type intoSingle[T any] struct {
	out    exec.Pusher[T]
	assign func(pipeline.Time) pipeline.Window
}

func (o *intoSingle[T]) Push(e pipeline.Element[T]) error {
	e.Window = o.assign(e.Time)
	e.Pane = pipeline.NoFiringPane
	return o.out.Push(e)
}

// PushBatch assigns the chunk's windows in place and passes it on.
func (o *intoSingle[T]) PushBatch(es []pipeline.Element[T]) error {
	for i := range es {
		es[i].Window = o.assign(es[i].Time)
		es[i].Pane = pipeline.NoFiringPane
	}
	return exec.PushAll(o.out, es)
}

// intoDeferred leaves window assignment to the next window-observing transform.
type intoDeferred[T any] struct{ out exec.Pusher[T] }

func (o *intoDeferred[T]) Push(e pipeline.Element[T]) error {
	e.Window = pipeline.GlobalWindow
	e.Pane = pipeline.NoFiringPane
	return o.out.Push(e)
}

// PushBatch resets the chunk's windows in place and passes it on.
func (o *intoDeferred[T]) PushBatch(es []pipeline.Element[T]) error {
	for i := range es {
		es[i].Window = pipeline.GlobalWindow
		es[i].Pane = pipeline.NoFiringPane
	}
	return exec.PushAll(o.out, es)
}

// Exploder materialises deferred windows: transforms that observe windows call Each for every element of a
// collection whose strategy is Deferred, and it calls fn once per window the element belongs to. For collections
// whose windows are already on their elements it calls fn once.
type Exploder[T any] struct {
	fn       WindowFn
	deferred bool
	buf      []pipeline.Window
}

// NewExploder returns an Exploder for elements of a collection with strategy st.
func NewExploder[T any](st *Strategy) *Exploder[T] {
	return &Exploder[T]{fn: st.WindowFn(), deferred: st != nil && st.Deferred}
}

// Each calls fn for e in each of its windows.
func (x *Exploder[T]) Each(e pipeline.Element[T], fn func(pipeline.Element[T]) error) error {
	if !x.deferred {
		return fn(e)
	}
	x.buf = x.fn.AssignWindows(x.buf[:0], e.Time)
	for _, w := range x.buf {
		e.Window = w
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// Materialized returns st with deferred assignment done (what a window-observing transform outputs).
func Materialized(st *Strategy) *Strategy {
	if st == nil || !st.Deferred {
		return st
	}
	c := *st
	c.Deferred = false
	return &c
}

// WithTimestamps sets each element's event time to fn(value).
func WithTimestamps[T any](s pipeline.Scope, col pipeline.PCollection[T], fn func(T) time.Time) pipeline.PCollection[T] {
	if fn == nil {
		s.Errorf("WithTimestamps: nil function")
		return pipeline.PCollection[T]{}
	}
	return WithEventTime(s, col, func(v T) pipeline.Time { return pipeline.TimeOf(fn(v)) })
}

// WithEventTime sets each element's event time to fn(value), given in milliseconds.
func WithEventTime[T any](s pipeline.Scope, col pipeline.PCollection[T], fn func(T) pipeline.Time) pipeline.PCollection[T] {
	if fn == nil {
		s.Errorf("WithTimestamps: nil function")
		return pipeline.PCollection[T]{}
	}
	op := &timestampOp[T]{fn: fn, st: Of(col)}
	t := pipeline.AddTransform(s, "WithTimestamps", op, col)
	if t != nil {
		op.name = t.Name()
	}
	out := pipeline.AddOutput[T](s, t)
	if out.Valid() {
		out.Collection().SetWindowing(Materialized(Of(col)))
	}
	return out
}

type timestampOp[T any] struct {
	name string
	fn   func(T) pipeline.Time
	st   *Strategy
}

func (o *timestampOp[T]) String() string { return "WithTimestamps" }

func (o *timestampOp[T]) Instantiate(w *exec.Worker, outs []any) (any, error) {
	out, ok := outs[0].(exec.Pusher[T])
	if !ok {
		return nil, fmt.Errorf("%s: output accepts %T", o.name, outs[0])
	}
	return &timestampInst[T]{op: o, w: w, out: out, x: NewExploder[T](o.st)}, nil
}

type timestampInst[T any] struct {
	op  *timestampOp[T]
	w   *exec.Worker
	out exec.Pusher[T]
	x   *Exploder[T]
}

func (t *timestampInst[T]) Push(e pipeline.Element[T]) error {
	return t.x.Each(e, func(e pipeline.Element[T]) error {
		t.w.Current = t.op.name
		e.Time = t.op.fn(e.Value)
		return t.out.Push(e)
	})
}
