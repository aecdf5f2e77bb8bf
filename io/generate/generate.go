package generate

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/kappaflow/kappa/pipeline"
)

// Config configures a generator.
type Config[T any] struct {
	// Func returns element i and its event time. It is called once per index, from the worker reading the
	// index's split, and must be safe for concurrent use (splits are read in parallel) and deterministic if runs
	// restored from checkpoints are to give the results of an uninterrupted run. Required.
	Func func(i int64) (T, pipeline.Time)
	// Count is how many elements a bounded generator produces: indices 0 … Count-1. 0 is an empty input.
	Count int64
	// Unbounded makes the generator produce elements forever (indices 0, 1, 2, …); Count must then be 0.
	Unbounded bool
	// Splits is the number of splits the indices are dealt over (default 4); the runner reads splits in parallel.
	Splits int
	// Rate, when positive, limits generation to Rate elements per second over all splits.
	Rate float64
	// OutOfOrderness promises that no element's event time is more than this much older than the newest event
	// time of the elements with smaller indices (0: event times never decrease with the index). The source gives
	// the runner a watermark from it (see the package documentation). Negative: no promise, no watermark.
	OutOfOrderness time.Duration
	// RecordBytes is a nominal size of one element, for the runner's byte counts, progress percentage and ETA, and
	// for pipeline.Limits.MaxBytes. 0: sizes unknown.
	RecordBytes int64
	// Name names the source in logs, metrics and errors (default "generate(n=COUNT)" or "generate(unbounded)").
	Name string
}

// Validate reports every problem of c at once.
func (c Config[T]) Validate() error {
	var errs []string
	if c.Func == nil {
		errs = append(errs, "Func is nil")
	}
	if c.Count < 0 {
		errs = append(errs, fmt.Sprintf("Count %d is negative", c.Count))
	}
	if c.Unbounded && c.Count != 0 {
		errs = append(errs, fmt.Sprintf("Count %d with Unbounded: an unbounded generator has no count", c.Count))
	}
	if c.Splits < 0 {
		errs = append(errs, fmt.Sprintf("Splits %d is negative", c.Splits))
	}
	if c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0) {
		errs = append(errs, fmt.Sprintf("Rate %v is not a positive number of elements per second (or 0: no limit)", c.Rate))
	}
	if c.RecordBytes < 0 {
		errs = append(errs, fmt.Sprintf("RecordBytes %d is negative", c.RecordBytes))
	}
	if len(errs) > 0 {
		return fmt.Errorf("generate: %s", strings.Join(errs, "; "))
	}
	return nil
}

// Source generates the elements Config.Func returns, in splits. It implements pipeline.Source[T]; Read adds one
// to a pipeline.
type Source[T any] struct {
	cfg    Config[T]
	splits int
	bound  pipeline.Time // OutOfOrderness in whole milliseconds, rounded up; < 0: no watermark
}

var _ pipeline.Source[int] = (*Source[int])(nil)

// NewSource validates cfg and returns a source.
func NewSource[T any](cfg Config[T]) (*Source[T], error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Source[T]{cfg: cfg, splits: cfg.Splits, bound: -1}
	if s.splits == 0 {
		s.splits = 4
	}
	if cfg.OutOfOrderness >= 0 {
		s.bound = pipeline.Time((cfg.OutOfOrderness + time.Millisecond - 1) / time.Millisecond)
	}
	return s, nil
}

// Read adds a generator to the pipeline. It also sets the runner's watermark estimate to cfg.OutOfOrderness
// (pipeline.OutOfOrderness; a later option in opts overrides it) and names the transform "Generate". A config
// error is recorded on the pipeline.
func Read[T any](s pipeline.Scope, cfg Config[T], opts ...pipeline.ReadOption) pipeline.PCollection[T] {
	src, err := NewSource(cfg)
	if err != nil {
		s.AddError(err)
		return pipeline.PCollection[T]{}
	}
	first := []pipeline.ReadOption{pipeline.ReadName("Generate")}
	if cfg.OutOfOrderness > 0 {
		first = append(first, pipeline.OutOfOrderness(cfg.OutOfOrderness))
	}
	return pipeline.Read[T](s, src, append(first, opts...)...)
}

// Name returns Config.Name, or "generate(n=COUNT)" / "generate(unbounded)".
func (s *Source[T]) Name() string {
	switch {
	case s.cfg.Name != "":
		return s.cfg.Name
	case s.cfg.Unbounded:
		return "generate(unbounded)"
	}
	return fmt.Sprintf("generate(n=%d)", s.cfg.Count)
}

// Bounded reports whether the generator ends (not Config.Unbounded).
func (s *Source[T]) Bounded() bool { return !s.cfg.Unbounded }

// Splits returns Config.Splits splits, "j/k": split j generates indices j, j+k, j+2k, …
func (s *Source[T]) Splits(context.Context) ([]pipeline.Split, error) {
	k := int64(s.splits)
	out := make([]pipeline.Split, k)
	for j := range out {
		sp := pipeline.Split{ID: fmt.Sprintf("%d/%d", j, k)}
		if !s.cfg.Unbounded && s.cfg.RecordBytes > 0 {
			sp.Size = max((s.cfg.Count-int64(j)+k-1)/k, 0) * s.cfg.RecordBytes
		}
		out[j] = sp
	}
	return out, nil
}

// Open opens split "j/k", at pos (the next index, 8 bytes big-endian) when given.
func (s *Source[T]) Open(_ context.Context, sp pipeline.Split, pos []byte) (pipeline.SplitReader[T], error) {
	var j, k int64
	if _, err := fmt.Sscanf(sp.ID, "%d/%d", &j, &k); err != nil || k != int64(s.splits) || j < 0 || j >= k {
		return nil, fmt.Errorf("%s: split %q is not one of %d splits (was Splits changed between runs?)", s.Name(), sp.ID, s.splits)
	}
	r := &reader[T]{s: s, next: j, step: k, end: math.MaxInt64, maxSeen: pipeline.MinTime}
	if !s.cfg.Unbounded {
		r.end = s.cfg.Count
	}
	if pos != nil {
		if len(pos) != 8 {
			return nil, fmt.Errorf("%s: split %s: bad position %x (want the next index, 8 bytes)", s.Name(), sp.ID, pos)
		}
		next := int64(binary.BigEndian.Uint64(pos))
		if next < j || (next-j)%k != 0 {
			return nil, fmt.Errorf("%s: split %s: position %d is not an index of the split", s.Name(), sp.ID, next)
		}
		r.next = next
	}
	if s.cfg.Rate > 0 {
		r.perSec = s.cfg.Rate / float64(k)
	}
	return r, nil
}

// defaultBatch is the number of elements generated per batch when Limits.MaxRecords is 0.
const defaultBatch = 1024

type reader[T any] struct {
	s               *Source[T]
	next, step, end int64
	maxSeen         pipeline.Time
	perSec          float64   // elements per second for this split; 0: no limit
	started         time.Time // when the rate clock started (first read)
	sinceStart      int64     // elements generated since started
	pos             [8]byte
}

// ReadBatch generates up to lim.MaxRecords elements (1024 when 0), fewer when the rate or lim.MaxBytes allow
// fewer. With a rate it waits at most lim.MaxWait for the next element to be due.
func (r *reader[T]) ReadBatch(ctx context.Context, b *pipeline.Batch[T], lim pipeline.Limits) error {
	if r.next >= r.end {
		return pipeline.ErrEndOfInput
	}
	n := int64(defaultBatch)
	if lim.MaxRecords > 0 {
		n = int64(lim.MaxRecords)
	}
	n = min(n, (r.end-r.next+r.step-1)/r.step)
	if rb := r.s.cfg.RecordBytes; lim.MaxBytes > 0 && rb > 0 {
		n = min(n, max(lim.MaxBytes/rb, 1))
	}
	if r.perSec > 0 {
		n = min(n, r.due(ctx, lim.MaxWait))
		if n == 0 {
			return nil
		}
		r.sinceStart += n
	}
	start := len(b.Values)
	b.Values = slices.Grow(b.Values, int(n))[:start+int(n)]
	b.Times = slices.Grow(b.Times, int(n))[:start+int(n)]
	vals, times := b.Values[start:], b.Times[start:]
	fn, next, step, mx := r.s.cfg.Func, r.next, r.step, r.maxSeen
	for j := range vals {
		v, t := fn(next)
		vals[j], times[j] = v, t
		mx = max(mx, t)
		next += step
	}
	r.next, r.maxSeen = next, mx
	b.Bytes += n * r.s.cfg.RecordBytes
	if r.s.bound >= 0 && mx != pipeline.MinTime {
		// The promise: what follows on this split is at most bound older than the newest time generated before it.
		b.Watermark = max(b.Watermark, mx-r.s.bound)
	}
	if r.next >= r.end {
		return pipeline.ErrEndOfInput
	}
	return nil
}

// due returns how many elements are due under the rate limit, waiting up to maxWait for the next one. A
// cancelled ctx ends the wait early with nothing due: the runner, seeing the cancellation, stops after the
// micro-batch.
func (r *reader[T]) due(ctx context.Context, maxWait time.Duration) int64 {
	now := time.Now()
	if r.started.IsZero() {
		r.started = now // the first element is due at once
	}
	deadline := now.Add(maxWait)
	for {
		if due := int64(now.Sub(r.started).Seconds()*r.perSec) + 1 - r.sinceStart; due > 0 {
			return due
		}
		at := r.started.Add(time.Duration(float64(r.sinceStart) / r.perSec * float64(time.Second)))
		if !at.Before(deadline) {
			sleep(ctx, time.Until(deadline))
			return 0
		}
		if !sleep(ctx, time.Until(at)) {
			return 0
		}
		now = time.Now()
	}
}

// sleep waits for d and reports whether it did (false: ctx was cancelled).
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Position returns the next index the split generates, 8 bytes big-endian.
func (r *reader[T]) Position() []byte {
	binary.BigEndian.PutUint64(r.pos[:], uint64(r.next))
	return r.pos[:]
}

// Close does nothing.
func (r *reader[T]) Close() error { return nil }
