package w1

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/kappaflow/kappa/pipeline"
)

// EventBytes is the nominal size of one event, for progress reporting.
const EventBytes = 24

// Source generates events [0, N) with their W1 event times in Parts interleaved splits: split j of k produces
// events j, j+k, j+2k, … so that all splits advance through event time together, like the partitions of a topic.
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
	for j := range out {
		count := (s.N - int64(j) + int64(k) - 1) / int64(k)
		out[j] = pipeline.Split{ID: fmt.Sprintf("%d/%d", j, k), Size: max(count, 0) * EventBytes}
	}
	return out, nil
}

// Open opens split j/k, resuming at pos (the next event number) when given.
func (s Source) Open(_ context.Context, sp pipeline.Split, pos []byte) (pipeline.SplitReader[Event], error) {
	var j, k int64
	if _, err := fmt.Sscanf(sp.ID, "%d/%d", &j, &k); err != nil || k < 1 || j < 0 || j >= k {
		return nil, fmt.Errorf("w1: bad split %q", sp.ID)
	}
	r := &reader{next: j, step: k, n: s.N}
	if len(pos) == 8 {
		r.next = int64(binary.BigEndian.Uint64(pos))
	}
	return r, nil
}

type reader struct {
	next, step, n int64
	pos           [8]byte
}

func (r *reader) ReadBatch(_ context.Context, b *pipeline.Batch[Event], lim pipeline.Limits) error {
	n := int64(0)
	if r.next < r.n {
		n = min(int64(lim.MaxRecords), (r.n-r.next+r.step-1)/r.step)
	}
	if cap(b.Values) < int(n) {
		b.Values = make([]Event, 0, n)
		b.Times = make([]pipeline.Time, 0, n)
	}
	vals, times := b.Values[:n], b.Times[:n]
	for j := range vals {
		e := Gen(r.next)
		vals[j] = e
		times[j] = pipeline.Time(e.Time)
		r.next += r.step
	}
	b.Values, b.Times = vals, times
	b.Bytes += n * EventBytes
	// A guarantee, not an estimate: event i has time > BaseTime + i - MaxDelay, and this split's next event is
	// r.next, so no event older than BaseTime + r.next - MaxDelay + 1 follows. Batch runs use it to fire windows
	// as they complete.
	b.Watermark = pipeline.Time(BaseTime + r.next - MaxDelay + 1)
	if r.next >= r.n {
		return pipeline.ErrEndOfInput
	}
	return nil
}

func (r *reader) Position() []byte {
	binary.BigEndian.PutUint64(r.pos[:], uint64(r.next))
	return r.pos[:]
}

func (r *reader) Close() error { return nil }
