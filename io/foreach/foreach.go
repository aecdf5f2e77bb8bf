package foreach

import (
	"context"
	"fmt"

	"github.com/kappaflow/kappa/pipeline"
)

// Option configures a foreach sink.
type Option func(*options)

type options struct{ name string }

// Name names the sink's transform and the sink in logs and errors (default "ForEach").
func Name(name string) Option { return func(o *options) { o.name = name } }

func apply(opts []Option) options {
	o := options{name: "ForEach"}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// Write calls fn with every element's value. fn is called from every shard concurrently and must be safe for
// concurrent use. Delivery is at-least-once (see the package documentation).
func Write[T any](s pipeline.Scope, col pipeline.PCollection[T], fn func(ctx context.Context, v T) error, opts ...Option) {
	if fn == nil {
		s.Errorf("%s: nil function", apply(opts).name)
		return
	}
	WriteElements(s, col, func(ctx context.Context, e pipeline.Element[T]) error { return fn(ctx, e.Value) }, opts...)
}

// WriteElements calls fn with every element, with its event time, window and pane. fn is called from every shard
// concurrently and must be safe for concurrent use. Delivery is at-least-once (see the package documentation).
func WriteElements[T any](s pipeline.Scope, col pipeline.PCollection[T], fn func(ctx context.Context, e pipeline.Element[T]) error, opts ...Option) {
	if fn == nil {
		s.Errorf("%s: nil function", apply(opts).name)
		return
	}
	writeShards(s, col, func(context.Context, pipeline.Shard) (Shard[T], error) {
		return Shard[T]{Each: fn}, nil
	}, true, opts...)
}

// Shard holds one shard's callbacks. The runner never calls two of them at once for one shard.
type Shard[T any] struct {
	// Each is called for every element the shard receives, in the order it receives them. Required.
	Each func(ctx context.Context, e pipeline.Element[T]) error
	// Flush, when set, is called at the end of every epoch, after the epoch's last Each call on the shard and
	// before the runner checkpoints: write out what Each buffered. epoch.Final is true for the last epoch of a
	// run whose sources all ended; epoch.Watermark says which windows are complete.
	Flush func(ctx context.Context, epoch pipeline.Epoch) error
	// Close, when set, is called once when the run ends, whether or not it succeeded.
	Close func(ctx context.Context) error
}

// WriteShards calls open once per shard when the run starts (shard.Index of shard.Count; one shard per runner
// worker), then the returned shard's callbacks. Delivery is at-least-once (see the package documentation).
func WriteShards[T any](s pipeline.Scope, col pipeline.PCollection[T], open func(ctx context.Context, shard pipeline.Shard) (Shard[T], error), opts ...Option) {
	writeShards(s, col, open, false, opts...)
}

func writeShards[T any](s pipeline.Scope, col pipeline.PCollection[T], open func(ctx context.Context, shard pipeline.Shard) (Shard[T], error), perBundle bool, opts ...Option) {
	o := apply(opts)
	if open == nil {
		s.Errorf("%s: nil open function", o.name)
		return
	}
	pipeline.Write(s.Scope(o.name), col, pipeline.Sink[T](&sink[T]{name: o.name, open: open, perBundle: perBundle}))
}

// sink adapts the callbacks to pipeline.Sink. Its tokens are empty: there is nothing to commit.
type sink[T any] struct {
	name      string
	open      func(ctx context.Context, shard pipeline.Shard) (Shard[T], error)
	perBundle bool // no Flush callback: the guarantee holds per bundle of runners/beam too
}

func (s *sink[T]) Name() string { return s.name }

// BundleSafe reports whether the sink keeps its (at-least-once) guarantee when written per bundle of a portable
// engine (runners/beam; internal/exec.BundleSink): true for Write and WriteElements, false for WriteShards, whose
// Flush callback reads kappa's epochs.
func (s *sink[T]) BundleSafe() bool { return s.perBundle }

func (s *sink[T]) Open(ctx context.Context, shard pipeline.Shard) (pipeline.SinkWriter[T], error) {
	sh, err := s.open(ctx, shard)
	if err != nil {
		return nil, err
	}
	if sh.Each == nil {
		return nil, fmt.Errorf("shard %d: Shard.Each is nil", shard.Index)
	}
	return &writer[T]{sh: sh, shard: shard.Index}, nil
}

type writer[T any] struct {
	sh    Shard[T]
	shard int
}

func (w *writer[T]) Write(ctx context.Context, elems []pipeline.Element[T]) error {
	for i := range elems {
		if err := w.sh.Each(ctx, elems[i]); err != nil {
			return fmt.Errorf("shard %d: %w", w.shard, err)
		}
	}
	return nil
}

func (w *writer[T]) Prepare(ctx context.Context, epoch pipeline.Epoch) ([]byte, error) {
	if w.sh.Flush != nil {
		if err := w.sh.Flush(ctx, epoch); err != nil {
			return nil, fmt.Errorf("shard %d: flush: %w", w.shard, err)
		}
	}
	return nil, nil
}

func (w *writer[T]) Commit(context.Context, []byte) error { return nil }

func (w *writer[T]) Close(ctx context.Context) error {
	if w.sh.Close != nil {
		if err := w.sh.Close(ctx); err != nil {
			return fmt.Errorf("shard %d: close: %w", w.shard, err)
		}
	}
	return nil
}
