package w1

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/kappaflow/kappa/pipeline"
)

// EventBytes is the nominal size of one event, for progress reporting.
const EventBytes = 24

// Source generates events [0, N) in Parts contiguous ranges, with their W1 event times.
type Source struct {
	N     int64
	Parts int
}

// Name returns "w1".
func (s Source) Name() string { return fmt.Sprintf("w1(n=%d)", s.N) }

// Bounded returns true.
func (Source) Bounded() bool { return true }

// Splits returns the ranges.
func (s Source) Splits(context.Context) ([]pipeline.Split, error) {
	k := max(s.Parts, 1)
	out := make([]pipeline.Split, k)
	for i := range out {
		lo, hi := s.bounds(i, k)
		out[i] = pipeline.Split{ID: fmt.Sprintf("%d-%d", lo, hi), Size: (hi - lo) * EventBytes}
	}
	return out, nil
}

func (s Source) bounds(i, k int) (int64, int64) {
	return s.N * int64(i) / int64(k), s.N * int64(i+1) / int64(k)
}

// Open opens a range, resuming after pos (the next event number).
func (s Source) Open(_ context.Context, sp pipeline.Split, pos []byte) (pipeline.SplitReader[Event], error) {
	var lo, hi int64
	if _, err := fmt.Sscanf(sp.ID, "%d-%d", &lo, &hi); err != nil {
		return nil, fmt.Errorf("w1: bad split %q", sp.ID)
	}
	r := &reader{next: lo, hi: hi}
	if len(pos) == 8 {
		r.next = int64(binary.BigEndian.Uint64(pos))
	}
	return r, nil
}

type reader struct {
	next, hi int64
	pos      [8]byte
}

func (r *reader) ReadBatch(_ context.Context, b *pipeline.Batch[Event], lim pipeline.Limits) error {
	n := min(int64(lim.MaxRecords), r.hi-r.next)
	if cap(b.Values) < int(n) {
		b.Values = make([]Event, 0, n)
		b.Times = make([]pipeline.Time, 0, n)
	}
	vals, times := b.Values[:n], b.Times[:n]
	for j := range vals {
		e := Gen(r.next + int64(j))
		vals[j] = e
		times[j] = pipeline.Time(e.Time)
	}
	b.Values, b.Times = vals, times
	b.Bytes += n * EventBytes
	r.next += n
	if r.next >= r.hi {
		return pipeline.ErrEndOfInput
	}
	return nil
}

func (r *reader) Position() []byte {
	binary.BigEndian.PutUint64(r.pos[:], uint64(r.next))
	return r.pos[:]
}

func (r *reader) Close() error { return nil }
