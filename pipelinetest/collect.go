package pipelinetest

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"sync"

	"github.com/kappaflow/kappa/pipeline"
)

// Result holds what a collection contained in a run, filled in by Collect's sink as epochs commit.
type Result[T any] struct {
	mu        sync.Mutex
	elems     []pipeline.Element[T]
	staged    map[uint64][]pipeline.Element[T]
	committed map[uint64]bool
	next      uint64
}

// Collect writes col to an in-memory, exactly-once sink and returns its result, read after the run.
func Collect[T any](s pipeline.Scope, col pipeline.PCollection[T]) *Result[T] {
	r := NewResult[T]()
	pipeline.Write(s.Scope("Collect"), col, pipeline.Sink[T](r))
	return r
}

// NewResult returns an empty Result, usable as an exactly-once pipeline.Sink by itself: it publishes what a
// writer prepared only when the token is committed, once, even across runs (as after a crash and restart).
func NewResult[T any]() *Result[T] {
	return &Result[T]{staged: map[uint64][]pipeline.Element[T]{}, committed: map[uint64]bool{}}
}

// Elements returns the committed elements with their times, windows and panes.
func (r *Result[T]) Elements() []pipeline.Element[T] {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]pipeline.Element[T](nil), r.elems...)
}

// Values returns the committed values.
func (r *Result[T]) Values() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]T, len(r.elems))
	for i, e := range r.elems {
		out[i] = e.Value
	}
	return out
}

// Name implements pipeline.Sink.
func (r *Result[T]) Name() string { return "collect" }

// Open implements pipeline.Sink.
func (r *Result[T]) Open(context.Context, pipeline.Shard) (pipeline.SinkWriter[T], error) {
	return &collectWriter[T]{r: r}, nil
}

type collectWriter[T any] struct {
	r   *Result[T]
	buf []pipeline.Element[T]
}

func (w *collectWriter[T]) Write(_ context.Context, elems []pipeline.Element[T]) error {
	w.buf = append(w.buf, elems...)
	return nil
}

func (w *collectWriter[T]) Prepare(context.Context, pipeline.Epoch) ([]byte, error) {
	w.r.mu.Lock()
	defer w.r.mu.Unlock()
	// Tokens are unique across Results (a random base per Result), so that committing another Result's token,
	// as a restore from a checkpoint written by an earlier job may, never shadows one of this Result's.
	if w.r.next == 0 {
		w.r.next = rand.Uint64() >> 1
	}
	id := w.r.next
	w.r.next++
	w.r.staged[id] = w.buf
	w.buf = nil
	return binary.BigEndian.AppendUint64(nil, id), nil
}

func (w *collectWriter[T]) Commit(_ context.Context, token []byte) error {
	id := binary.BigEndian.Uint64(token)
	w.r.mu.Lock()
	defer w.r.mu.Unlock()
	if w.r.committed[id] {
		return nil
	}
	w.r.committed[id] = true
	w.r.elems = append(w.r.elems, w.r.staged[id]...)
	delete(w.r.staged, id)
	return nil
}

func (w *collectWriter[T]) Close(context.Context) error { return nil }

// BundleSafe reports that a Result can be written per bundle of a portable engine (runners/beam): its Prepare
// ignores the epoch and its tokens are committed at most once (internal/exec.BundleSink).
func (r *Result[T]) BundleSafe() bool { return true }
