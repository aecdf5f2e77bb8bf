package pipelinetest

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/kappaflow/kappa/pipeline"
)

// Timed is a value with an event time, for CreateTimed.
type Timed[T any] struct {
	Value T
	Time  pipeline.Time
}

// At pairs a value with an event time.
func At[T any](v T, t time.Time) Timed[T] { return Timed[T]{Value: v, Time: pipeline.TimeOf(t)} }

// AtMillis pairs a value with an event time in Unix milliseconds.
func AtMillis[T any](v T, ms int64) Timed[T] { return Timed[T]{Value: v, Time: pipeline.Time(ms)} }

// Create returns a bounded collection of values without event times (pipeline.MinTime), in the global window.
// The values are spread over several splits so that multi-worker runs read them in parallel.
func Create[T any](s pipeline.Scope, values ...T) pipeline.PCollection[T] {
	elems := make([]Timed[T], len(values))
	for i, v := range values {
		elems[i] = Timed[T]{Value: v, Time: pipeline.MinTime}
	}
	return pipeline.Read(s, &memSource[T]{elems: elems, splits: 4}, pipeline.ReadName("Create"))
}

// CreateTimed returns a bounded collection of values with event times.
func CreateTimed[T any](s pipeline.Scope, elems ...Timed[T]) pipeline.PCollection[T] {
	return pipeline.Read(s, &memSource[T]{elems: elems, splits: 4}, pipeline.ReadName("Create"))
}

// Source returns a bounded source over elems with the given number of splits (contiguous chunks), for tests that
// need a pipeline.Source value.
func Source[T any](elems []Timed[T], splits int) pipeline.Source[T] {
	return &memSource[T]{elems: elems, splits: max(splits, 1)}
}

type memSource[T any] struct {
	elems  []Timed[T]
	splits int
}

func (m *memSource[T]) Name() string  { return "memory" }
func (m *memSource[T]) Bounded() bool { return true }

func (m *memSource[T]) Splits(context.Context) ([]pipeline.Split, error) {
	n := min(m.splits, max(len(m.elems), 1))
	out := make([]pipeline.Split, n)
	for i := range out {
		lo, hi := m.bounds(i, n)
		out[i] = pipeline.Split{ID: fmt.Sprintf("%d/%d", i, n), Size: int64(hi - lo)}
	}
	return out, nil
}

func (m *memSource[T]) bounds(i, n int) (int, int) {
	return i * len(m.elems) / n, (i + 1) * len(m.elems) / n
}

func (m *memSource[T]) Open(_ context.Context, sp pipeline.Split, pos []byte) (pipeline.SplitReader[T], error) {
	var i, n int
	if _, err := fmt.Sscanf(sp.ID, "%d/%d", &i, &n); err != nil {
		return nil, fmt.Errorf("memory source: bad split %q", sp.ID)
	}
	lo, hi := m.bounds(i, n)
	r := &memReader[T]{elems: m.elems[lo:hi]}
	if len(pos) == 8 {
		r.next = int(binary.BigEndian.Uint64(pos))
	}
	return r, nil
}

type memReader[T any] struct {
	elems []Timed[T]
	next  int
	pos   [8]byte
}

func (r *memReader[T]) ReadBatch(_ context.Context, b *pipeline.Batch[T], lim pipeline.Limits) error {
	for r.next < len(r.elems) && b.Len() < lim.MaxRecords {
		e := r.elems[r.next]
		b.Add(e.Value, e.Time)
		b.Bytes++
		r.next++
	}
	if r.next >= len(r.elems) {
		return pipeline.ErrEndOfInput
	}
	return nil
}

func (r *memReader[T]) Position() []byte {
	binary.BigEndian.PutUint64(r.pos[:], uint64(r.next))
	return r.pos[:]
}

func (r *memReader[T]) Close() error { return nil }
