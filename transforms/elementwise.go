package transforms

import (
	"context"
	"fmt"

	"github.com/kappaflow/kappa/internal/exec"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/windowing"
)

// Map applies fn to every element. The output keeps each element's timestamp and window.
func Map[In, Out any](s pipeline.Scope, col pipeline.PCollection[In], fn func(In) Out) pipeline.PCollection[Out] {
	if fn == nil {
		s.Errorf("Map: nil function")
		return pipeline.PCollection[Out]{}
	}
	return mapNamed(s, "Map", col, fn)
}

func mapNamed[In, Out any](s pipeline.Scope, name string, col pipeline.PCollection[In], fn func(In) Out) pipeline.PCollection[Out] {
	op := &mapOp[In, Out]{fn: fn, kind: name}
	t := pipeline.AddTransform(s, name, op, col)
	if t != nil {
		op.name = t.Name()
	}
	return pipeline.AddOutput[Out](s, t)
}

type mapOp[In, Out any] struct {
	name, kind string
	fn         func(In) Out
}

func (o *mapOp[In, Out]) String() string { return o.kind }

func (o *mapOp[In, Out]) Instantiate(w *exec.Worker, outs []any) (any, error) {
	out, err := pusherOf[Out](o.name, outs, 0)
	if err != nil {
		return nil, err
	}
	return &mapInst[In, Out]{name: o.name, fn: o.fn, w: w, out: out}, nil
}

type mapInst[In, Out any] struct {
	name string
	fn   func(In) Out
	w    *exec.Worker
	out  exec.Pusher[Out]
}

func (m *mapInst[In, Out]) Push(e pipeline.Element[In]) error {
	m.w.Current = m.name
	return m.out.Push(pipeline.Element[Out]{Value: m.fn(e.Value), Time: e.Time, Window: e.Window, Pane: e.Pane})
}

// MapErr applies fn to every element; an error stops the pipeline, naming the transform and the element. Use
// TryMap to route failures to a dead-letter collection instead.
func MapErr[In, Out any](s pipeline.Scope, col pipeline.PCollection[In], fn func(In) (Out, error)) pipeline.PCollection[Out] {
	out, _ := tryMap(s, "MapErr", col, fn, false)
	return out
}

// TryMap applies fn to every element; elements on which fn fails (returns an error or panics) go to the second
// collection as *pipeline.RecordError values naming the transform and holding the element, and the pipeline goes
// on.
func TryMap[In, Out any](s pipeline.Scope, col pipeline.PCollection[In], fn func(In) (Out, error)) (pipeline.PCollection[Out], pipeline.PCollection[*pipeline.RecordError]) {
	return tryMap(s, "TryMap", col, fn, true)
}

func tryMap[In, Out any](s pipeline.Scope, name string, col pipeline.PCollection[In], fn func(In) (Out, error), dlq bool) (pipeline.PCollection[Out], pipeline.PCollection[*pipeline.RecordError]) {
	if fn == nil {
		s.Errorf("%s: nil function", name)
		return pipeline.PCollection[Out]{}, pipeline.PCollection[*pipeline.RecordError]{}
	}
	op := &tryMapOp[In, Out]{fn: fn, kind: name, dlq: dlq}
	t := pipeline.AddTransform(s, name, op, col)
	if t != nil {
		op.name = t.Name()
	}
	out := pipeline.AddOutput[Out](s, t)
	var errs pipeline.PCollection[*pipeline.RecordError]
	if dlq {
		errs = pipeline.AddOutput[*pipeline.RecordError](s, t)
	}
	return out, errs
}

type tryMapOp[In, Out any] struct {
	name, kind string
	fn         func(In) (Out, error)
	dlq        bool
}

func (o *tryMapOp[In, Out]) String() string { return o.kind }

func (o *tryMapOp[In, Out]) Instantiate(w *exec.Worker, outs []any) (any, error) {
	out, err := pusherOf[Out](o.name, outs, 0)
	if err != nil {
		return nil, err
	}
	inst := &tryMapInst[In, Out]{op: o, w: w, out: out}
	if o.dlq {
		if inst.dlq, err = pusherOf[*pipeline.RecordError](o.name, outs, 1); err != nil {
			return nil, err
		}
	}
	return inst, nil
}

type tryMapInst[In, Out any] struct {
	op  *tryMapOp[In, Out]
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
			return fmt.Errorf("%s: element %s: %w", m.op.name, short(e.Value), err)
		}
		return m.dlq.Push(pipeline.Element[*pipeline.RecordError]{Value: re, Time: e.Time, Window: e.Window, Pane: e.Pane})
	}
	return m.out.Push(pipeline.Element[Out]{Value: v, Time: e.Time, Window: e.Window, Pane: e.Pane})
}

func short(v any) string {
	s := fmt.Sprintf("%+v", v)
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// FlatMap applies fn to every element and emits each value of the returned slice.
func FlatMap[In, Out any](s pipeline.Scope, col pipeline.PCollection[In], fn func(In) []Out) pipeline.PCollection[Out] {
	if fn == nil {
		s.Errorf("FlatMap: nil function")
		return pipeline.PCollection[Out]{}
	}
	return ParDo(s, col, DoFunc[In, Out](func(_ context.Context, e pipeline.Element[In], emit Emitter[Out]) error {
		for _, v := range fn(e.Value) {
			emit.Emit(v)
		}
		return nil
	}), Name("FlatMap"), windowAgnostic())
}

// Filter keeps the elements for which keep returns true.
func Filter[T any](s pipeline.Scope, col pipeline.PCollection[T], keep func(T) bool) pipeline.PCollection[T] {
	if keep == nil {
		s.Errorf("Filter: nil function")
		return pipeline.PCollection[T]{}
	}
	op := &filterOp[T]{keep: keep}
	t := pipeline.AddTransform(s, "Filter", op, col)
	if t != nil {
		op.name = t.Name()
	}
	return pipeline.AddOutput[T](s, t)
}

type filterOp[T any] struct {
	name string
	keep func(T) bool
}

func (o *filterOp[T]) String() string { return "Filter" }

func (o *filterOp[T]) Instantiate(w *exec.Worker, outs []any) (any, error) {
	out, err := pusherOf[T](o.name, outs, 0)
	if err != nil {
		return nil, err
	}
	return &filterInst[T]{op: o, w: w, out: out}, nil
}

type filterInst[T any] struct {
	op  *filterOp[T]
	w   *exec.Worker
	out exec.Pusher[T]
}

func (f *filterInst[T]) Push(e pipeline.Element[T]) error {
	f.w.Current = f.op.name
	if !f.op.keep(e.Value) {
		return nil
	}
	return f.out.Push(e)
}

func pusherOf[T any](name string, outs []any, i int) (exec.Pusher[T], error) {
	if i >= len(outs) {
		return nil, fmt.Errorf("%s: runner gave %d outputs, want at least %d", name, len(outs), i+1)
	}
	p, ok := outs[i].(exec.Pusher[T])
	if !ok {
		return nil, fmt.Errorf("%s: output %d accepts %T", name, i, outs[i])
	}
	return p, nil
}

// Emitter emits the outputs of a DoFn.
type Emitter[T any] interface {
	// Emit emits v with the timestamp, window and pane of the element being processed.
	Emit(v T)
	// EmitElement emits an element with an explicit timestamp, window and pane.
	EmitElement(e pipeline.Element[T])
}

// DoFn processes elements one at a time. One DoFn value serves every worker, like an http.Handler:
// ProcessElement must be safe for concurrent use — unless the DoFn implements PerWorker, which gives each worker
// its own instance. It may also implement Setup(ctx) error and Teardown(ctx) error, called once per worker (on
// the worker's instance) before the first and after the last element.
type DoFn[In, Out any] interface {
	ProcessElement(ctx context.Context, e pipeline.Element[In], emit Emitter[Out]) error
}

// DoFunc adapts a function to a DoFn.
type DoFunc[In, Out any] func(ctx context.Context, e pipeline.Element[In], emit Emitter[Out]) error

// ProcessElement calls f.
func (f DoFunc[In, Out]) ProcessElement(ctx context.Context, e pipeline.Element[In], emit Emitter[Out]) error {
	return f(ctx, e, emit)
}

// Setupper is implemented by DoFns that acquire resources per worker.
type Setupper interface {
	Setup(ctx context.Context) error
}

// Teardowner is implemented by DoFns that release resources per worker.
type Teardowner interface {
	Teardown(ctx context.Context) error
}

// Option configures a transform.
type Option interface{ apply(*options) }

type options struct {
	name           string
	windowAgnostic bool
	late           any
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// Name names the transform in its scope (default: the transform kind, e.g. "ParDo").
func Name(name string) Option { return optionFunc(func(o *options) { o.name = name }) }

// windowAgnostic marks a DoFn that neither reads windows nor changes timestamps, so deferred windows stay deferred.
func windowAgnostic() Option { return optionFunc(func(o *options) { o.windowAgnostic = true }) }

func applyOptions(def string, opts []Option) options {
	o := options{name: def}
	for _, opt := range opts {
		if opt != nil {
			opt.apply(&o)
		}
	}
	return o
}

// ParDo applies a DoFn to every element. The DoFn sees each element with its timestamp, window and pane and may
// emit any number of outputs.
func ParDo[In, Out any](s pipeline.Scope, col pipeline.PCollection[In], fn DoFn[In, Out], opts ...Option) pipeline.PCollection[Out] {
	o := applyOptions("ParDo", opts)
	if fn == nil {
		s.Errorf("%s: nil DoFn", o.name)
		return pipeline.PCollection[Out]{}
	}
	op := &parDoOp[In]{kind: o.name, st: windowing.Of(col), agnostic: o.windowAgnostic,
		bind: func(v any) (processFunc[In], error) {
			fn, ok := v.(DoFn[In, Out])
			if !ok {
				return nil, fmt.Errorf("NewWorker returned %T, not a DoFn[%s, %s]", v, describe[In](), describe[Out]())
			}
			return func(ctx context.Context, e pipeline.Element[In], outs []emitterBase) error {
				return fn.ProcessElement(ctx, e, outs[0].(*emitter[Out]))
			}, nil
		},
		newOuts: []func(any) (emitterBase, error){newEmitter[Out]},
		fn:      fn,
	}
	t := pipeline.AddTransform(s, o.name, op, col)
	if t != nil {
		op.name = t.Name()
	}
	out := pipeline.AddOutput[Out](s, t)
	materialize(out.Collection(), col, o.windowAgnostic)
	return out
}

// DoFn2 is a DoFn with two typed outputs.
type DoFn2[In, O1, O2 any] interface {
	ProcessElement(ctx context.Context, e pipeline.Element[In], emit1 Emitter[O1], emit2 Emitter[O2]) error
}

// DoFunc2 adapts a function to a DoFn2.
type DoFunc2[In, O1, O2 any] func(ctx context.Context, e pipeline.Element[In], emit1 Emitter[O1], emit2 Emitter[O2]) error

// ProcessElement calls f.
func (f DoFunc2[In, O1, O2]) ProcessElement(ctx context.Context, e pipeline.Element[In], emit1 Emitter[O1], emit2 Emitter[O2]) error {
	return f(ctx, e, emit1, emit2)
}

// ParDo2 applies a DoFn with two outputs (for example results and rejects).
func ParDo2[In, O1, O2 any](s pipeline.Scope, col pipeline.PCollection[In], fn DoFn2[In, O1, O2], opts ...Option) (pipeline.PCollection[O1], pipeline.PCollection[O2]) {
	o := applyOptions("ParDo2", opts)
	if fn == nil {
		s.Errorf("%s: nil DoFn", o.name)
		return pipeline.PCollection[O1]{}, pipeline.PCollection[O2]{}
	}
	op := &parDoOp[In]{kind: o.name, st: windowing.Of(col), agnostic: o.windowAgnostic,
		bind: func(v any) (processFunc[In], error) {
			fn, ok := v.(DoFn2[In, O1, O2])
			if !ok {
				return nil, fmt.Errorf("NewWorker returned %T, not a DoFn2[%s, %s, %s]", v, describe[In](), describe[O1](), describe[O2]())
			}
			return func(ctx context.Context, e pipeline.Element[In], outs []emitterBase) error {
				return fn.ProcessElement(ctx, e, outs[0].(*emitter[O1]), outs[1].(*emitter[O2]))
			}, nil
		},
		newOuts: []func(any) (emitterBase, error){newEmitter[O1], newEmitter[O2]},
		fn:      fn,
	}
	t := pipeline.AddTransform(s, o.name, op, col)
	if t != nil {
		op.name = t.Name()
	}
	o1 := pipeline.AddOutput[O1](s, t)
	o2 := pipeline.AddOutput[O2](s, t)
	materialize(o1.Collection(), col, o.windowAgnostic)
	materialize(o2.Collection(), col, o.windowAgnostic)
	return o1, o2
}

// DoFn3 is a DoFn with three typed outputs.
type DoFn3[In, O1, O2, O3 any] interface {
	ProcessElement(ctx context.Context, e pipeline.Element[In], emit1 Emitter[O1], emit2 Emitter[O2], emit3 Emitter[O3]) error
}

// DoFunc3 adapts a function to a DoFn3.
type DoFunc3[In, O1, O2, O3 any] func(ctx context.Context, e pipeline.Element[In], emit1 Emitter[O1], emit2 Emitter[O2], emit3 Emitter[O3]) error

// ProcessElement calls f.
func (f DoFunc3[In, O1, O2, O3]) ProcessElement(ctx context.Context, e pipeline.Element[In], emit1 Emitter[O1], emit2 Emitter[O2], emit3 Emitter[O3]) error {
	return f(ctx, e, emit1, emit2, emit3)
}

// ParDo3 applies a DoFn with three outputs.
func ParDo3[In, O1, O2, O3 any](s pipeline.Scope, col pipeline.PCollection[In], fn DoFn3[In, O1, O2, O3], opts ...Option) (pipeline.PCollection[O1], pipeline.PCollection[O2], pipeline.PCollection[O3]) {
	o := applyOptions("ParDo3", opts)
	if fn == nil {
		s.Errorf("%s: nil DoFn", o.name)
		return pipeline.PCollection[O1]{}, pipeline.PCollection[O2]{}, pipeline.PCollection[O3]{}
	}
	op := &parDoOp[In]{kind: o.name, st: windowing.Of(col), agnostic: o.windowAgnostic,
		bind: func(v any) (processFunc[In], error) {
			fn, ok := v.(DoFn3[In, O1, O2, O3])
			if !ok {
				return nil, fmt.Errorf("NewWorker returned %T, not a DoFn3[%s, %s, %s, %s]", v, describe[In](), describe[O1](), describe[O2](), describe[O3]())
			}
			return func(ctx context.Context, e pipeline.Element[In], outs []emitterBase) error {
				return fn.ProcessElement(ctx, e, outs[0].(*emitter[O1]), outs[1].(*emitter[O2]), outs[2].(*emitter[O3]))
			}, nil
		},
		newOuts: []func(any) (emitterBase, error){newEmitter[O1], newEmitter[O2], newEmitter[O3]},
		fn:      fn,
	}
	t := pipeline.AddTransform(s, o.name, op, col)
	if t != nil {
		op.name = t.Name()
	}
	o1 := pipeline.AddOutput[O1](s, t)
	o2 := pipeline.AddOutput[O2](s, t)
	o3 := pipeline.AddOutput[O3](s, t)
	for _, c := range []*pipeline.Collection{o1.Collection(), o2.Collection(), o3.Collection()} {
		materialize(c, col, o.windowAgnostic)
	}
	return o1, o2, o3
}

// materialize sets the windowing of a ParDo output: a window-observing DoFn materialises deferred windows.
func materialize(out *pipeline.Collection, in pipeline.Input, agnostic bool) {
	if out == nil || agnostic {
		return
	}
	out.SetWindowing(windowing.Materialized(windowing.Of(in)))
}

type emitterBase interface {
	setCurrent(e *metaOnly)
	firstErr() error
}

type metaOnly struct {
	t    pipeline.Time
	w    pipeline.Window
	pane pipeline.Pane
}

type emitter[T any] struct {
	out exec.Pusher[T]
	cur *metaOnly
	err error
}

func newEmitter[T any](out any) (emitterBase, error) {
	p, ok := out.(exec.Pusher[T])
	if !ok {
		return nil, fmt.Errorf("output accepts %T", out)
	}
	return &emitter[T]{out: p}, nil
}

func (e *emitter[T]) setCurrent(m *metaOnly) { e.cur = m }

func (e *emitter[T]) firstErr() error {
	err := e.err
	e.err = nil
	return err
}

func (e *emitter[T]) Emit(v T) {
	if e.err != nil {
		return
	}
	e.err = e.out.Push(pipeline.Element[T]{Value: v, Time: e.cur.t, Window: e.cur.w, Pane: e.cur.pane})
}

func (e *emitter[T]) EmitElement(el pipeline.Element[T]) {
	if e.err != nil {
		return
	}
	e.err = e.out.Push(el)
}

type parDoOp[In any] struct {
	name, kind string
	st         *windowing.Strategy
	agnostic   bool
	bind       func(fn any) (processFunc[In], error)
	newOuts    []func(any) (emitterBase, error)
	fn         any
}

type processFunc[In any] func(ctx context.Context, e pipeline.Element[In], outs []emitterBase) error

// PerWorker is implemented by DoFns that keep per-worker state in their fields, as Beam DoFns do: each worker
// calls NewWorker once and uses the instance it returns — usually a copy of the configured value,
// `func (f *enrich) NewWorker() any { c := *f; return &c }` — for Setup, ProcessElement and Teardown. It must
// return a DoFn of the ParDo's type. DoFns without it are one value shared by all workers.
type PerWorker interface {
	NewWorker() any
}

func (o *parDoOp[In]) String() string { return o.kind }

func (o *parDoOp[In]) Instantiate(w *exec.Worker, outs []any) (any, error) {
	if len(outs) != len(o.newOuts) {
		return nil, fmt.Errorf("%s: runner gave %d outputs, want %d", o.name, len(outs), len(o.newOuts))
	}
	inst := &parDoInst[In]{op: o, w: w, fn: o.fn}
	if pw, ok := o.fn.(PerWorker); ok {
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
	op      *parDoOp[In]
	fn      any // this worker's DoFn: the shared value, or its own from PerWorker.NewWorker
	process processFunc[In]
	w       *exec.Worker
	emits   []emitterBase
	meta    metaOnly
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
	p.meta = metaOnly{t: e.Time, w: e.Window, pane: e.Pane}
	p.w.Current = p.op.name
	if err := p.process(p.w.Ctx, e, p.emits); err != nil {
		for _, em := range p.emits {
			em.firstErr()
		}
		return fmt.Errorf("%s: %w", p.op.name, err)
	}
	for _, em := range p.emits {
		if err := em.firstErr(); err != nil {
			return err
		}
	}
	return nil
}

func (p *parDoInst[In]) Start(ctx context.Context) error {
	if s, ok := p.fn.(Setupper); ok {
		p.w.Current = p.op.name
		if err := s.Setup(ctx); err != nil {
			return fmt.Errorf("%s: setup: %w", p.op.name, err)
		}
	}
	return nil
}

func (p *parDoInst[In]) EndOfBatch(ctx context.Context) error { return nil }

func (p *parDoInst[In]) Finish(ctx context.Context) error {
	if t, ok := p.fn.(Teardowner); ok {
		p.w.Current = p.op.name
		if err := t.Teardown(ctx); err != nil {
			return fmt.Errorf("%s: teardown: %w", p.op.name, err)
		}
	}
	return nil
}
