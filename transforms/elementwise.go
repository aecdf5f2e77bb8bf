package transforms

import (
	"context"
	"fmt"

	"github.com/kappaflow/kappa/internal/engine"
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
	t := addTransform(s, name, engine.NewMap[In, Out](name, fn), col)
	return pipeline.AddOutput[Out](s, t)
}

// addTransform adds op to the graph and tells it its full name.
func addTransform(s pipeline.Scope, name string, op any, inputs ...pipeline.Input) *pipeline.Transform {
	t := pipeline.AddTransform(s, name, op, inputs...)
	if n, ok := op.(engine.Named); ok && t != nil {
		n.SetName(t.Name())
	}
	return t
}

// MapWindowed applies fn to every element with the window it is in — the usual last step after a grouping, which
// turns a per-window result into a row: `transforms.MapWindowed(s, counts, func(kv KV[string, int64], w
// pipeline.Window) Row { return Row{URL: kv.Key, Minute: w.Start.Std(), Views: kv.Value} })`. The output keeps
// each element's timestamp, window and pane. An element of sliding windows is mapped once per window. For the
// element's timestamp or pane, use ParDo.
func MapWindowed[In, Out any](s pipeline.Scope, col pipeline.PCollection[In], fn func(In, pipeline.Window) Out) pipeline.PCollection[Out] {
	if fn == nil {
		s.Errorf("MapWindowed: nil function")
		return pipeline.PCollection[Out]{}
	}
	return ParDo(s, col, DoFunc[In, Out](func(_ context.Context, e pipeline.Element[In], emit Emitter[Out]) error {
		emit.Emit(fn(e.Value, e.Window))
		return nil
	}), Name("MapWindowed"))
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
	t := addTransform(s, name, engine.NewTryMap[In, Out](name, fn, dlq), col)
	out := pipeline.AddOutput[Out](s, t)
	var errs pipeline.PCollection[*pipeline.RecordError]
	if dlq {
		errs = pipeline.AddOutput[*pipeline.RecordError](s, t)
	}
	return out, errs
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
	t := addTransform(s, "Filter", engine.NewFilter[T](keep), col)
	return pipeline.AddOutput[T](s, t)
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
	op := engine.NewParDo(engine.ParDoSpec[In]{Kind: o.name, Strategy: windowing.Of(col), WindowAgnostic: o.windowAgnostic,
		Bind: func(v any) (engine.ProcessFunc[In], error) {
			fn, ok := v.(DoFn[In, Out])
			if !ok {
				return nil, fmt.Errorf("NewWorker returned %T, not a DoFn[%s, %s]", v, describe[In](), describe[Out]())
			}
			return func(ctx context.Context, e pipeline.Element[In], outs []engine.EmitterBase) error {
				return fn.ProcessElement(ctx, e, outs[0].(*engine.Emitter[Out]))
			}, nil
		},
		Outputs: []func(any) (engine.EmitterBase, error){engine.NewEmitter[Out]},
		Fn:      fn,
	})
	t := addTransform(s, o.name, op, col)
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
	op := engine.NewParDo(engine.ParDoSpec[In]{Kind: o.name, Strategy: windowing.Of(col), WindowAgnostic: o.windowAgnostic,
		Bind: func(v any) (engine.ProcessFunc[In], error) {
			fn, ok := v.(DoFn2[In, O1, O2])
			if !ok {
				return nil, fmt.Errorf("NewWorker returned %T, not a DoFn2[%s, %s, %s]", v, describe[In](), describe[O1](), describe[O2]())
			}
			return func(ctx context.Context, e pipeline.Element[In], outs []engine.EmitterBase) error {
				return fn.ProcessElement(ctx, e, outs[0].(*engine.Emitter[O1]), outs[1].(*engine.Emitter[O2]))
			}, nil
		},
		Outputs: []func(any) (engine.EmitterBase, error){engine.NewEmitter[O1], engine.NewEmitter[O2]},
		Fn:      fn,
	})
	t := addTransform(s, o.name, op, col)
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
	op := engine.NewParDo(engine.ParDoSpec[In]{Kind: o.name, Strategy: windowing.Of(col), WindowAgnostic: o.windowAgnostic,
		Bind: func(v any) (engine.ProcessFunc[In], error) {
			fn, ok := v.(DoFn3[In, O1, O2, O3])
			if !ok {
				return nil, fmt.Errorf("NewWorker returned %T, not a DoFn3[%s, %s, %s, %s]", v, describe[In](), describe[O1](), describe[O2](), describe[O3]())
			}
			return func(ctx context.Context, e pipeline.Element[In], outs []engine.EmitterBase) error {
				return fn.ProcessElement(ctx, e, outs[0].(*engine.Emitter[O1]), outs[1].(*engine.Emitter[O2]), outs[2].(*engine.Emitter[O3]))
			}, nil
		},
		Outputs: []func(any) (engine.EmitterBase, error){engine.NewEmitter[O1], engine.NewEmitter[O2], engine.NewEmitter[O3]},
		Fn:      fn,
	})
	t := addTransform(s, o.name, op, col)
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

// PerWorker is implemented by DoFns that keep per-worker state in their fields, as Beam DoFns do: each worker
// calls NewWorker once and uses the instance it returns — usually a copy of the configured value,
// `func (f *enrich) NewWorker() any { c := *f; return &c }` — for Setup, ProcessElement and Teardown. It must
// return a DoFn of the ParDo's type. DoFns without it are one value shared by all workers.
type PerWorker interface {
	NewWorker() any
}
