package pipelinetest

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"

	"github.com/kappaflow/kappa/pipeline"
)

// Feed is an unbounded in-memory source for tests: a set of named splits (like the partitions of a topic) that a
// test appends to while the pipeline runs. Splits can be added later (picked up at the runner's next discovery),
// can name parents (read only after the parents end), and can be ended. SendFailure appends a record that reads as
// a *pipeline.RecordError, as an undecodable record of a real connector does.
type Feed[T any] struct {
	mu     sync.Mutex
	splits map[string]*feedSplit[T]
	order  []string
}

type feedSplit[T any] struct {
	parents []string
	elems   []Timed[T]
	fails   map[int]*pipeline.RecordError // offsets (in elems) that read as failures
	ended   bool
}

// NewFeed returns a feed with the given initial splits.
func NewFeed[T any](splits ...string) *Feed[T] {
	f := &Feed[T]{splits: map[string]*feedSplit[T]{}}
	for _, s := range splits {
		f.AddSplit(s)
	}
	return f
}

// AddSplit adds a split whose reading waits for parents to end.
func (f *Feed[T]) AddSplit(id string, parents ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.splits[id]; !ok {
		f.splits[id] = &feedSplit[T]{parents: parents}
		f.order = append(f.order, id)
	}
}

// Send appends elements to a split (creating it if needed).
func (f *Feed[T]) Send(split string, elems ...Timed[T]) {
	f.AddSplit(split)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.splits[split].elems = append(f.splits[split].elems, elems...)
}

// SendFailure appends to a split (creating it if needed) a record the feed cannot decode: its reader reports it in
// Batch.Failures as a *pipeline.RecordError with Source "feed", Location "split SPLIT offset N", Raw raw and Err
// cause, and reads on. It returns the location.
func (f *Feed[T]) SendFailure(split string, raw []byte, cause error) string {
	f.AddSplit(split)
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.splits[split]
	off := len(s.elems)
	loc := fmt.Sprintf("split %s offset %d", split, off)
	if s.fails == nil {
		s.fails = map[int]*pipeline.RecordError{}
	}
	s.fails[off] = &pipeline.RecordError{Source: f.Name(), Location: loc, Raw: slices.Clone(raw), Err: cause}
	s.elems = append(s.elems, Timed[T]{Time: pipeline.MinTime})
	return loc
}

// End ends a split: once drained, its reader returns pipeline.ErrEndOfInput.
func (f *Feed[T]) End(split string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.splits[split]; ok {
		s.ended = true
	}
}

// Name implements pipeline.Source.
func (f *Feed[T]) Name() string { return "feed" }

// Bounded implements pipeline.Source: a feed never ends as a whole.
func (f *Feed[T]) Bounded() bool { return false }

// Splits implements pipeline.Source.
func (f *Feed[T]) Splits(context.Context) ([]pipeline.Split, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]pipeline.Split, 0, len(f.order))
	for _, id := range f.order {
		out = append(out, pipeline.Split{ID: id, Parents: slices.Clone(f.splits[id].parents)})
	}
	return out, nil
}

// Open implements pipeline.Source; positions are element offsets.
func (f *Feed[T]) Open(_ context.Context, sp pipeline.Split, pos []byte) (pipeline.SplitReader[T], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.splits[sp.ID]; !ok {
		return nil, fmt.Errorf("feed: no split %q", sp.ID)
	}
	r := &feedReader[T]{f: f, id: sp.ID}
	if len(pos) == 8 {
		r.next = int(binary.BigEndian.Uint64(pos))
	}
	return r, nil
}

type feedReader[T any] struct {
	f    *Feed[T]
	id   string
	next int
	pos  [8]byte
}

// ReadBatch appends up to lim.MaxRecords records (values and failures), each counted as one byte against
// lim.MaxBytes. It never waits.
func (r *feedReader[T]) ReadBatch(_ context.Context, b *pipeline.Batch[T], lim pipeline.Limits) error {
	r.f.mu.Lock()
	defer r.f.mu.Unlock()
	s := r.f.splits[r.id]
	for r.next < len(s.elems) && b.Len()+len(b.Failures) < lim.MaxRecords && (lim.MaxBytes <= 0 || b.Bytes < lim.MaxBytes) {
		if f, ok := s.fails[r.next]; ok {
			c := *f
			b.Fail(&c)
		} else {
			e := s.elems[r.next]
			b.Add(e.Value, e.Time)
		}
		b.Bytes++
		r.next++
	}
	if s.ended && r.next >= len(s.elems) {
		return pipeline.ErrEndOfInput
	}
	return nil
}

func (r *feedReader[T]) Position() []byte {
	binary.BigEndian.PutUint64(r.pos[:], uint64(r.next))
	return r.pos[:]
}

func (r *feedReader[T]) Close() error { return nil }
