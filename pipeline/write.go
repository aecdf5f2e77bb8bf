package pipeline

import (
	"context"
	"fmt"
)

// Write adds a sink for col. Each runner worker writes its share of the elements through its own SinkWriter.
func Write[T any](s Scope, col PCollection[T], sink Sink[T]) {
	if sink == nil {
		s.Errorf("Write: nil sink")
		return
	}
	op := &writeOp[T]{sink: sink}
	if d, ok := col.Windowing().(deferredWindowing); ok {
		op.assign = d.DeferredAssigner()
	}
	AddTransform(s, "Write", op, col)
}

// deferredWindowing is implemented by the windowing package's Strategy: while a collection's window assignment is
// deferred (sliding windows before the first window-observing transform), DeferredAssigner returns the function
// assigning an element's windows, and a sink writes the element once per window.
type deferredWindowing interface {
	DeferredAssigner() func(dst []Window, t Time) []Window
}

// writeOp is the operator of Write. The runner uses it through internal/exec.SinkOp.
type writeOp[T any] struct {
	sink   Sink[T]
	assign func(dst []Window, t Time) []Window // nil unless windows are deferred
}

func (w *writeOp[T]) String() string { return "Write(" + w.sink.Name() + ")" }

func (w *writeOp[T]) SinkName() string { return w.sink.Name() }

// Sink returns the pipeline.Sink[T] written to (for runners that check what a sink supports).
func (w *writeOp[T]) Sink() any { return w.sink }

// Open opens the shard's writer; the result implements internal/exec.SinkRunner and is a pusher of T.
func (w *writeOp[T]) Open(ctx context.Context, shard Shard) (any, error) {
	wr, err := w.sink.Open(ctx, shard)
	if err != nil {
		return nil, fmt.Errorf("%s: open shard %d: %w", w.sink.Name(), shard.Index, err)
	}
	return &sinkRunner[T]{ctx: ctx, name: w.sink.Name(), w: wr, assign: w.assign}, nil
}

// sinkBuffer is how many elements a sink runner buffers before it hands them to its writer: a stage that emits
// millions of elements in one micro-batch (a global window firing at the end of its input) must not hold them all.
const sinkBuffer = 4096

type sinkRunner[T any] struct {
	ctx    context.Context // the run's, from Open
	name   string
	w      SinkWriter[T]
	buf    []Element[T]
	assign func(dst []Window, t Time) []Window
	wins   []Window
}

func (s *sinkRunner[T]) Push(e Element[T]) error {
	if s.assign != nil {
		s.wins = s.assign(s.wins[:0], e.Time)
		for _, w := range s.wins {
			e.Window = w
			s.buf = append(s.buf, e)
		}
		return s.flushFull()
	}
	s.buf = append(s.buf, e)
	return s.flushFull()
}

// flushFull writes the buffered elements once there are sinkBuffer of them.
func (s *sinkRunner[T]) flushFull() error {
	if len(s.buf) < sinkBuffer {
		return nil
	}
	return s.Flush(s.ctx)
}

// PushBatch buffers a chunk of elements.
func (s *sinkRunner[T]) PushBatch(es []Element[T]) error {
	if s.assign != nil {
		for i := range es {
			if err := s.Push(es[i]); err != nil {
				return err
			}
		}
		return nil
	}
	s.buf = append(s.buf, es...)
	return s.flushFull()
}

// Flush writes the buffered elements.
func (s *sinkRunner[T]) Flush(ctx context.Context) error {
	if len(s.buf) == 0 {
		return nil
	}
	err := s.w.Write(ctx, s.buf)
	clear(s.buf)
	s.buf = s.buf[:0]
	if err != nil {
		return fmt.Errorf("%s: write: %w", s.name, err)
	}
	return nil
}

func (s *sinkRunner[T]) Prepare(ctx context.Context, e Epoch) ([]byte, error) {
	if err := s.Flush(ctx); err != nil {
		return nil, err
	}
	tok, err := s.w.Prepare(ctx, e)
	if err != nil {
		return nil, fmt.Errorf("%s: prepare epoch %d: %w", s.name, e.ID, err)
	}
	return tok, nil
}

func (s *sinkRunner[T]) Commit(ctx context.Context, token []byte) error {
	if err := s.w.Commit(ctx, token); err != nil {
		return fmt.Errorf("%s: commit: %w", s.name, err)
	}
	return nil
}

func (s *sinkRunner[T]) Close(ctx context.Context) error { return s.w.Close(ctx) }
