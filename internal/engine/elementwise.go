package engine

import (
	"context"
	"fmt"

	"github.com/kappaflow/kappa/internal/exec"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/windowing"
)

// Element-wise operators: each is an exec.ElementOp whose per-worker instance is a Pusher of its input type that
// pushes straight into its outputs' Pushers, so a chain of them (a fused stage) is a chain of direct calls. They
// are runner-neutral: the local runner calls them per element, the Beam runner runs a fused chain of them inside
// one DoFn.

// outlet is an operator's downstream: its Pusher, and the same as a BatchPusher when it takes chunks.
type outlet[T any] struct {
	p exec.Pusher[T]
	b exec.BatchPusher[T]
}

func newOutlet[T any](p exec.Pusher[T]) outlet[T] {
	b, _ := p.(exec.BatchPusher[T])
	return outlet[T]{p: p, b: b}
}

// pushAll pushes a chunk downstream.
func (o outlet[T]) pushAll(es []pipeline.Element[T]) error {
	if o.b != nil {
		return o.b.PushBatch(es)
	}
	for i := range es {
		if err := o.p.Push(es[i]); err != nil {
			return err
		}
	}
	return nil
}

// Named is implemented by operators that learn their transform's full name once it is in the graph.
type Named interface {
	SetName(name string)
}

// MapOp applies a function to every element.
type MapOp[In, Out any] struct {
	name, kind string
	fn         func(In) Out
}

// NewMap returns the operator of Map (and of maps with another kind, e.g. "KeyBy").
func NewMap[In, Out any](kind string, fn func(In) Out) *MapOp[In, Out] {
	return &MapOp[In, Out]{kind: kind, fn: fn}
}

// String returns the kind.
func (o *MapOp[In, Out]) String() string { return o.kind }

// SetName sets the transform's full name.
func (o *MapOp[In, Out]) SetName(name string) { o.name = name }

// Instantiate creates the operator for one worker.
func (o *MapOp[In, Out]) Instantiate(w *exec.Worker, outs []any) (any, error) {
	out, err := PusherOf[Out](o.name, outs, 0)
	if err != nil {
		return nil, err
	}
	return &mapInst[In, Out]{name: o.name, fn: o.fn, w: w, out: out, outs: newOutlet(out)}, nil
}

type mapInst[In, Out any] struct {
	name string
	fn   func(In) Out
	w    *exec.Worker
	out  exec.Pusher[Out]
	outs outlet[Out]
	buf  []pipeline.Element[Out]
}

func (m *mapInst[In, Out]) Push(e pipeline.Element[In]) error {
	m.w.Current = m.name
	return m.out.Push(pipeline.Element[Out]{Value: m.fn(e.Value), Time: e.Time, Window: e.Window, Pane: e.Pane})
}

// PushBatch maps a chunk into the operator's own buffer and passes it on.
func (m *mapInst[In, Out]) PushBatch(es []pipeline.Element[In]) error {
	m.w.Current = m.name
	buf := m.buf[:0]
	for i := range es {
		e := &es[i]
		buf = append(buf, pipeline.Element[Out]{Value: m.fn(e.Value), Time: e.Time, Window: e.Window, Pane: e.Pane})
	}
	m.buf = buf
	return m.outs.pushAll(buf)
}

// TryMapOp applies a function that may fail to every element; failures stop the run, or go to output 1 as
// *pipeline.RecordError values when the operator has a dead-letter output.
type TryMapOp[In, Out any] struct {
	name, kind string
	fn         func(In) (Out, error)
	dlq        bool
}

// NewTryMap returns the operator of MapErr (dlq false) and TryMap (dlq true).
func NewTryMap[In, Out any](kind string, fn func(In) (Out, error), dlq bool) *TryMapOp[In, Out] {
	return &TryMapOp[In, Out]{kind: kind, fn: fn, dlq: dlq}
}

// String returns the kind.
func (o *TryMapOp[In, Out]) String() string { return o.kind }

// SetName sets the transform's full name.
func (o *TryMapOp[In, Out]) SetName(name string) { o.name = name }

// Instantiate creates the operator for one worker.
func (o *TryMapOp[In, Out]) Instantiate(w *exec.Worker, outs []any) (any, error) {
	out, err := PusherOf[Out](o.name, outs, 0)
	if err != nil {
		return nil, err
	}
	inst := &tryMapInst[In, Out]{op: o, w: w, out: out}
	if o.dlq {
		if inst.dlq, err = PusherOf[*pipeline.RecordError](o.name, outs, 1); err != nil {
			return nil, err
		}
	}
	return inst, nil
}

type tryMapInst[In, Out any] struct {
	op  *TryMapOp[In, Out]
	w   *exec.Worker
	out exec.Pusher[Out]
	dlq exec.Pusher[*pipeline.RecordError]
}

func (m *tryMapInst[In, Out]) call(v In) (out Out, err error) {
	if m.dlq != nil {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("panic: %v", r)
			}
		}()
	}
	return m.op.fn(v)
}

func (m *tryMapInst[In, Out]) Push(e pipeline.Element[In]) error {
	m.w.Current = m.op.name
	v, err := m.call(e.Value)
	if err != nil {
		re := &pipeline.RecordError{Transform: m.op.name, Value: e.Value, Err: err}
		if m.dlq == nil {
			return fmt.Errorf("%s: element %s: %w", m.op.name, Short(e.Value), err)
		}
		return m.dlq.Push(pipeline.Element[*pipeline.RecordError]{Value: re, Time: e.Time, Window: e.Window, Pane: e.Pane})
	}
	return m.out.Push(pipeline.Element[Out]{Value: v, Time: e.Time, Window: e.Window, Pane: e.Pane})
}

// Short formats a value for an error message, cut at 200 characters.
func Short(v any) string {
	s := fmt.Sprintf("%+v", v)
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// FilterOp keeps the elements for which a predicate holds.
type FilterOp[T any] struct {
	name string
	keep func(T) bool
}

// NewFilter returns the operator of Filter.
func NewFilter[T any](keep func(T) bool) *FilterOp[T] { return &FilterOp[T]{keep: keep} }

// String returns "Filter".
func (o *FilterOp[T]) String() string { return "Filter" }

// SetName sets the transform's full name.
func (o *FilterOp[T]) SetName(name string) { o.name = name }

// Instantiate creates the operator for one worker.
func (o *FilterOp[T]) Instantiate(w *exec.Worker, outs []any) (any, error) {
	out, err := PusherOf[T](o.name, outs, 0)
	if err != nil {
		return nil, err
	}
	return &filterInst[T]{op: o, w: w, out: out, outs: newOutlet(out)}, nil
}

type filterInst[T any] struct {
	op   *FilterOp[T]
	w    *exec.Worker
	out  exec.Pusher[T]
	outs outlet[T]
}

// PushBatch keeps the chunk's elements that pass, in place, and passes them on.
func (f *filterInst[T]) PushBatch(es []pipeline.Element[T]) error {
	f.w.Current = f.op.name
	kept := es[:0]
	for i := range es {
		if f.op.keep(es[i].Value) {
			kept = append(kept, es[i])
		}
	}
	if len(kept) == 0 {
		return nil
	}
	return f.outs.pushAll(kept)
}

func (f *filterInst[T]) Push(e pipeline.Element[T]) error {
	f.w.Current = f.op.name
	if !f.op.keep(e.Value) {
		return nil
	}
	return f.out.Push(e)
}

// PusherOf returns outs[i] as a Pusher of T, or an error naming the transform.
func PusherOf[T any](name string, outs []any, i int) (exec.Pusher[T], error) {
	if i >= len(outs) {
		return nil, fmt.Errorf("%s: runner gave %d outputs, want at least %d", name, len(outs), i+1)
	}
	p, ok := outs[i].(exec.Pusher[T])
	if !ok {
		return nil, fmt.Errorf("%s: output %d accepts %T", name, i, outs[i])
	}
	return p, nil
}

// EmitterBase is the untyped side of an Emitter, which operators drive.
type EmitterBase interface {
	setCurrent(e *Meta)
	// FirstErr returns and clears the first error of a push since the last call.
	FirstErr() error
}

// Meta is the timestamp, window and pane of the element being processed, which Emit gives to what it emits.
type Meta struct {
	T    pipeline.Time
	W    pipeline.Window
	Pane pipeline.Pane
}

// Emitter emits the outputs of a DoFn into a Pusher; it implements transforms.Emitter[T]. A push error is kept and
// returned by FirstErr after the DoFn returns.
type Emitter[T any] struct {
	out exec.Pusher[T]
	cur *Meta
	err error
}

// NewEmitter returns an Emitter pushing to out, which must be an exec.Pusher[T].
func NewEmitter[T any](out any) (EmitterBase, error) {
	p, ok := out.(exec.Pusher[T])
	if !ok {
		return nil, fmt.Errorf("output accepts %T", out)
	}
	return &Emitter[T]{out: p}, nil
}

func (e *Emitter[T]) setCurrent(m *Meta) { e.cur = m }

// FirstErr returns and clears the first push error.
func (e *Emitter[T]) FirstErr() error {
	err := e.err
	e.err = nil
	return err
}

// Emit emits v with the timestamp, window and pane of the element being processed.
func (e *Emitter[T]) Emit(v T) {
	if e.err != nil {
		return
	}
	e.err = e.out.Push(pipeline.Element[T]{Value: v, Time: e.cur.T, Window: e.cur.W, Pane: e.cur.Pane})
}

// EmitElement emits an element with an explicit timestamp, window and pane.
func (e *Emitter[T]) EmitElement(el pipeline.Element[T]) {
	if e.err != nil {
		return
	}
	e.err = e.out.Push(el)
}

// ProcessFunc calls a DoFn on one element with the operator's emitters (in output order).
type ProcessFunc[In any] func(ctx context.Context, e pipeline.Element[In], outs []EmitterBase) error

// ParDoOp applies a DoFn with any number of outputs. The DoFn itself is opaque here: Bind turns the worker's DoFn
// value into a ProcessFunc.
type ParDoOp[In any] struct {
	name, kind string
	st         *windowing.Strategy
	agnostic   bool
	bind       func(fn any) (ProcessFunc[In], error)
	newOuts    []func(any) (EmitterBase, error)
	fn         any
}

// ParDoSpec describes a ParDo to NewParDo.
type ParDoSpec[In any] struct {
	// Kind is the transform kind ("ParDo", "FlatMap", …).
	Kind string
	// Strategy is the input's windowing.
	Strategy *windowing.Strategy
	// WindowAgnostic marks a DoFn that neither reads windows nor changes timestamps: deferred windows stay
	// deferred.
	WindowAgnostic bool
	// Fn is the user's DoFn value. When it has a method NewWorker() any, each worker calls it and uses its own
	// instance; when it has Setup(ctx) error or Teardown(ctx) error, they are called per worker.
	Fn any
	// Bind turns a worker's DoFn value into the function called per element; it fails if the value is not a DoFn
	// of the right type.
	Bind func(fn any) (ProcessFunc[In], error)
	// Outputs creates one emitter per output, from its Pusher (NewEmitter[T] for output type T).
	Outputs []func(any) (EmitterBase, error)
}

// NewParDo returns the operator of a ParDo.
func NewParDo[In any](spec ParDoSpec[In]) *ParDoOp[In] {
	return &ParDoOp[In]{kind: spec.Kind, st: spec.Strategy, agnostic: spec.WindowAgnostic, bind: spec.Bind,
		newOuts: spec.Outputs, fn: spec.Fn}
}

// String returns the kind.
func (o *ParDoOp[In]) String() string { return o.kind }

// SetName sets the transform's full name.
func (o *ParDoOp[In]) SetName(name string) { o.name = name }

// Fn returns the user's DoFn value.
func (o *ParDoOp[In]) Fn() any { return o.fn }

// WindowAgnostic reports whether the DoFn ignores windows.
func (o *ParDoOp[In]) WindowAgnostic() bool { return o.agnostic }

type perWorker interface{ NewWorker() any }

type setupper interface {
	Setup(ctx context.Context) error
}

type teardowner interface {
	Teardown(ctx context.Context) error
}

// Instantiate creates the operator for one worker.
func (o *ParDoOp[In]) Instantiate(w *exec.Worker, outs []any) (any, error) {
	if len(outs) != len(o.newOuts) {
		return nil, fmt.Errorf("%s: runner gave %d outputs, want %d", o.name, len(outs), len(o.newOuts))
	}
	inst := &parDoInst[In]{op: o, w: w, fn: o.fn}
	if pw, ok := o.fn.(perWorker); ok {
		inst.fn = pw.NewWorker()
	}
	process, err := o.bind(inst.fn)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.name, err)
	}
	inst.process = process
	for i, mk := range o.newOuts {
		e, err := mk(outs[i])
		if err != nil {
			return nil, fmt.Errorf("%s: output %d: %w", o.name, i, err)
		}
		e.setCurrent(&inst.meta)
		inst.emits = append(inst.emits, e)
	}
	if !o.agnostic {
		inst.x = windowing.NewExploder[In](o.st)
	}
	inst.oneFn = inst.one
	return inst, nil
}

type parDoInst[In any] struct {
	op      *ParDoOp[In]
	fn      any // this worker's DoFn: the shared value, or its own from NewWorker
	process ProcessFunc[In]
	w       *exec.Worker
	emits   []EmitterBase
	meta    Meta
	x       *windowing.Exploder[In]
	oneFn   func(pipeline.Element[In]) error
}

func (p *parDoInst[In]) Push(e pipeline.Element[In]) error {
	if p.x != nil {
		return p.x.Each(e, p.oneFn)
	}
	return p.one(e)
}

func (p *parDoInst[In]) one(e pipeline.Element[In]) error {
	p.meta = Meta{T: e.Time, W: e.Window, Pane: e.Pane}
	p.w.Current = p.op.name
	if err := p.process(p.w.Ctx, e, p.emits); err != nil {
		for _, em := range p.emits {
			em.FirstErr()
		}
		return fmt.Errorf("%s: %w", p.op.name, err)
	}
	for _, em := range p.emits {
		if err := em.FirstErr(); err != nil {
			return err
		}
	}
	return nil
}

func (p *parDoInst[In]) Start(ctx context.Context) error {
	if s, ok := p.fn.(setupper); ok {
		p.w.Current = p.op.name
		if err := s.Setup(ctx); err != nil {
			return fmt.Errorf("%s: setup: %w", p.op.name, err)
		}
	}
	return nil
}

func (p *parDoInst[In]) EndOfBatch(ctx context.Context) error { return nil }

func (p *parDoInst[In]) Finish(ctx context.Context) error {
	if t, ok := p.fn.(teardowner); ok {
		p.w.Current = p.op.name
		if err := t.Teardown(ctx); err != nil {
			return fmt.Errorf("%s: teardown: %w", p.op.name, err)
		}
	}
	return nil
}

// FlattenOp merges collections of one type.
type FlattenOp[T any] struct{}

// NewFlatten returns the operator of Flatten.
func NewFlatten[T any]() *FlattenOp[T] { return &FlattenOp[T]{} }

// String returns "Flatten".
func (o *FlattenOp[T]) String() string { return "Flatten" }

// Instantiate returns the output itself: every input pushes straight into it.
func (o *FlattenOp[T]) Instantiate(w *exec.Worker, outs []any) (any, error) {
	return PusherOf[T]("Flatten", outs, 0)
}

// PartitionOp sends each element to one of n outputs.
type PartitionOp[T any] struct {
	name string
	n    int
	fn   func(T) int
}

// NewPartition returns the operator of Partition.
func NewPartition[T any](n int, fn func(T) int) *PartitionOp[T] { return &PartitionOp[T]{n: n, fn: fn} }

// String returns "Partition(n)".
func (o *PartitionOp[T]) String() string { return fmt.Sprintf("Partition(%d)", o.n) }

// SetName sets the transform's full name.
func (o *PartitionOp[T]) SetName(name string) { o.name = name }

// Instantiate creates the operator for one worker.
func (o *PartitionOp[T]) Instantiate(w *exec.Worker, outs []any) (any, error) {
	inst := &partitionInst[T]{op: o, w: w, outs: make([]exec.Pusher[T], o.n)}
	for i := range o.n {
		p, err := PusherOf[T](o.name, outs, i)
		if err != nil {
			return nil, err
		}
		inst.outs[i] = p
	}
	return inst, nil
}

type partitionInst[T any] struct {
	op   *PartitionOp[T]
	w    *exec.Worker
	outs []exec.Pusher[T]
}

func (p *partitionInst[T]) Push(e pipeline.Element[T]) error {
	p.w.Current = p.op.name
	i := p.op.fn(e.Value)
	if i < 0 || i >= len(p.outs) {
		return fmt.Errorf("%s: element %s: partition %d out of range [0, %d)", p.op.name, Short(e.Value), i, len(p.outs))
	}
	return p.outs[i].Push(e)
}
