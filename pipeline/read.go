package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// WatermarkEstimator tracks the watermark of one split from the event times it has read. The runner creates one
// per split; the source watermark is the minimum over its active splits.
type WatermarkEstimator interface {
	// Observe is called after each batch with the largest event time in it.
	Observe(maxTime Time)
	// Watermark returns the current watermark: no record older than it is expected from the split any more.
	Watermark(now time.Time) Time
}

// BoundedOutOfOrderness is the default watermark: the largest event time seen minus Bound minus 1 ms, like Flink's
// forBoundedOutOfOrderness. A record up to Bound older than the newest one seen is still on time.
type BoundedOutOfOrderness struct {
	Bound time.Duration
	max   Time
	seen  bool
}

// Observe records the batch maximum.
func (b *BoundedOutOfOrderness) Observe(maxTime Time) {
	if !b.seen || maxTime > b.max {
		b.max, b.seen = maxTime, true
	}
}

// Watermark returns max - Bound - 1 ms, or MinTime before any record.
func (b *BoundedOutOfOrderness) Watermark(time.Time) Time {
	if !b.seen || b.max == MinTime {
		return MinTime
	}
	return b.max.Add(-b.Bound) - 1
}

// ReadOption configures Read.
type ReadOption interface{ applyRead(*readConfig) }

type readConfig struct {
	outOfOrder time.Duration
	idle       time.Duration
	estimator  func() WatermarkEstimator
	name       string
}

type readOptionFunc func(*readConfig)

func (f readOptionFunc) applyRead(c *readConfig) { f(c) }

// OutOfOrderness sets how far behind the newest event time a record may arrive and still be on time (the bound of
// the default BoundedOutOfOrderness watermark). Default 0: event time is expected to increase per split.
func OutOfOrderness(d time.Duration) ReadOption {
	return readOptionFunc(func(c *readConfig) { c.outOfOrder = d })
}

// IdleTimeout excludes a split from the source watermark once it has returned no records for d (Flink's
// withIdleness), so an idle partition does not hold back every window. Default 0: never.
func IdleTimeout(d time.Duration) ReadOption {
	return readOptionFunc(func(c *readConfig) { c.idle = d })
}

// WithWatermark replaces the default watermark estimator; newEstimator is called once per split.
func WithWatermark(newEstimator func() WatermarkEstimator) ReadOption {
	return readOptionFunc(func(c *readConfig) { c.estimator = newEstimator })
}

// ReadName names the read transform (default "Read").
func ReadName(name string) ReadOption { return readOptionFunc(func(c *readConfig) { c.name = name }) }

// Read adds a source to the pipeline. Records that the source cannot decode stop the pipeline with an error naming
// their location; use ReadWithDeadLetters to route them to a collection instead.
func Read[T any](s Scope, src Source[T], opts ...ReadOption) PCollection[T] {
	out, _ := read(s, src, false, opts)
	return out
}

// ReadWithDeadLetters is Read with a dead-letter output: records the source cannot decode become elements of the
// second collection, with their location and raw bytes, and the pipeline goes on.
func ReadWithDeadLetters[T any](s Scope, src Source[T], opts ...ReadOption) (PCollection[T], PCollection[*RecordError]) {
	return read(s, src, true, opts)
}

func read[T any](s Scope, src Source[T], dlq bool, opts []ReadOption) (PCollection[T], PCollection[*RecordError]) {
	cfg := readConfig{name: "Read"}
	for _, o := range opts {
		o.applyRead(&cfg)
	}
	if src == nil {
		s.Errorf("%s: nil source", cfg.name)
		return PCollection[T]{}, PCollection[*RecordError]{}
	}
	op := &readOp[T]{src: src, cfg: cfg, dlq: dlq}
	t := AddTransform(s, cfg.name, op)
	out := AddOutput[T](s, t)
	out.c.bounded = src.Bounded()
	var errs PCollection[*RecordError]
	if dlq {
		errs = AddOutput[*RecordError](s, t)
		errs.c.bounded = src.Bounded()
	}
	return out, errs
}

// readOp is the operator of Read. The runner uses it through internal/exec.SourceOp.
type readOp[T any] struct {
	src Source[T]
	cfg readConfig
	dlq bool
}

func (r *readOp[T]) String() string { return "Read(" + r.src.Name() + ")" }

func (r *readOp[T]) SourceName() string { return r.src.Name() }

func (r *readOp[T]) Bounded() bool { return r.src.Bounded() }

func (r *readOp[T]) IdleTimeout() time.Duration { return r.cfg.idle }

func (r *readOp[T]) HasDeadLetters() bool { return r.dlq }

func (r *readOp[T]) Splits(ctx context.Context) ([]Split, error) { return r.src.Splits(ctx) }

func (r *readOp[T]) Acknowledger() Acknowledger {
	a, _ := r.src.(Acknowledger)
	return a
}

// CloseSource closes the source when it implements io.Closer (clients shared by its splits, group membership).
func (r *readOp[T]) CloseSource() error {
	if c, ok := r.src.(interface{ Close() error }); ok {
		return c.Close()
	}
	return nil
}

func (r *readOp[T]) NewWatermarkEstimator() WatermarkEstimator {
	if r.cfg.estimator != nil {
		return r.cfg.estimator()
	}
	return &BoundedOutOfOrderness{Bound: r.cfg.outOfOrder}
}

// Open opens a split; the result implements internal/exec.SplitRunner.
func (r *readOp[T]) Open(ctx context.Context, split Split, pos []byte) (any, error) {
	rd, err := r.src.Open(ctx, split, pos)
	if err != nil {
		return nil, fmt.Errorf("%s: open split %s: %w", r.src.Name(), split.ID, err)
	}
	sr := &splitRunner[T]{src: r.src.Name(), split: split.ID, r: rd}
	sr.b.Watermark = MinTime
	return sr, nil
}

type splitRunner[T any] struct {
	src, split string
	r          SplitReader[T]
	b          Batch[T]
}

// Read reads one batch and pushes its records to out (a pusher of T) and its failures to dlq (a pusher of
// *RecordError, or nil: the first failure is returned as the error). It reports the number of records and bytes,
// the largest event time, and the source's watermark hint.
func (s *splitRunner[T]) Read(ctx context.Context, lim Limits, out, dlq any) (n int, bytes int64, maxTime, hint Time, err error) {
	s.b.Reset()
	rerr := s.r.ReadBatch(ctx, &s.b, lim)
	if rerr != nil && !errors.Is(rerr, ErrEndOfInput) {
		return 0, 0, MinTime, MinTime, fmt.Errorf("%s: split %s: %w", s.src, s.split, rerr)
	}
	o, ok := out.(pusher[T])
	if !ok {
		return 0, 0, MinTime, MinTime, fmt.Errorf("%s: output accepts %T", s.src, out)
	}
	maxTime = MinTime
	vals, times := s.b.Values, s.b.Times
	if len(times) != len(vals) {
		return 0, 0, MinTime, MinTime, fmt.Errorf("%s: split %s: batch has %d values but %d times", s.src, s.split, len(vals), len(times))
	}
	for i := range vals {
		t := times[i]
		if t > maxTime {
			maxTime = t
		}
		if err := o.Push(Element[T]{Value: vals[i], Time: t, Window: GlobalWindow, Pane: NoFiringPane}); err != nil {
			return i, s.b.Bytes, maxTime, s.b.Watermark, err
		}
	}
	if len(s.b.Failures) > 0 {
		d, _ := dlq.(pusher[*RecordError])
		for _, f := range s.b.Failures {
			if f.Source == "" {
				f.Source = s.src
			}
			if d == nil {
				return len(vals), s.b.Bytes, maxTime, s.b.Watermark, f
			}
			if err := d.Push(Element[*RecordError]{Value: f, Time: MinTime, Window: GlobalWindow, Pane: NoFiringPane}); err != nil {
				return len(vals), s.b.Bytes, maxTime, s.b.Watermark, err
			}
		}
	}
	return len(vals), s.b.Bytes, maxTime, s.b.Watermark, rerr
}

func (s *splitRunner[T]) Position() []byte { return s.r.Position() }

func (s *splitRunner[T]) Close() error { return s.r.Close() }
