package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	maxSkew    time.Duration // records further ahead of processing time are dead letters; < 0: no limit
	warnSkew   time.Duration // without maxSkew, records further ahead are counted and logged; < 0: never
}

type readOptionFunc func(*readConfig)

func (f readOptionFunc) applyRead(c *readConfig) { f(c) }

// OutOfOrderness sets how far behind the newest event time a record may arrive and still be on time (the bound of
// the default BoundedOutOfOrderness watermark). Default 0: event time is expected to increase per split.
func OutOfOrderness(d time.Duration) ReadOption {
	return readOptionFunc(func(c *readConfig) { c.outOfOrder = d })
}

// IdleTimeout excludes a split from the source watermark once it has returned no records for d (Flink's
// withIdleness), so an idle partition does not hold back every window. When every split of the source is idle,
// the source stops holding back the transforms it feeds together with other, active sources (a rarely written
// table topic joined with a stream, transforms.TableJoin); alone, its watermark stays where it was. Records an
// idle source reads later may be behind the watermark there (late), as in Flink. Default 0: never.
func IdleTimeout(d time.Duration) ReadOption {
	return readOptionFunc(func(c *readConfig) { c.idle = d })
}

// WithWatermark replaces the default watermark estimator; newEstimator is called once per split.
func WithWatermark(newEstimator func() WatermarkEstimator) ReadOption {
	return readOptionFunc(func(c *readConfig) { c.estimator = newEstimator })
}

// DefaultFutureSkewWarning is how far ahead of processing time a record's event time may be before the runner
// counts and logs it, when the read has no MaxFutureSkew (see FutureSkewWarning). One hour, like the default of
// Kafka brokers' log.message.timestamp.after.max.ms.
const DefaultFutureSkewWarning = time.Hour

// ErrFutureEventTime is the cause of the *RecordError a record gets when its event time is further ahead of
// processing time than MaxFutureSkew allows.
var ErrFutureEventTime = errors.New("event time too far ahead of processing time")

// MaxFutureSkew guards against producers with wrong clocks: a record whose event time is more than d ahead of
// processing time (the runner's clock when its batch is read) is not read into the collection and never moves
// the watermark. It becomes a *RecordError (Source, Location "split ID", Value the record, Err wrapping
// ErrFutureEventTime with the times) on the dead-letter output of ReadWithDeadLetters; with plain Read it stops
// the run, like an undecodable record. The check applies in batch and stream mode alike; replaying an archive
// that legitimately holds future event times needs no MaxFutureSkew.
//
// Without it no record is refused — Beam and Flink have no such guard either — but records more than
// DefaultFutureSkewWarning ahead are counted per source (the local runner's Stats.Future and
// kappa_future_records_total) and the first one is logged: in stream mode such a record moves its split's
// watermark far ahead, and the on-time data after it becomes late.
func MaxFutureSkew(d time.Duration) ReadOption {
	return readOptionFunc(func(c *readConfig) { c.maxSkew = max(d, 0) })
}

// FutureSkewWarning changes how far ahead of processing time a record may be before it is counted and logged
// when the read has no MaxFutureSkew (default DefaultFutureSkewWarning); d < 0 turns the warning off, for
// sources whose event times run ahead of the clock on purpose (a generator replaying the future).
func FutureSkewWarning(d time.Duration) ReadOption {
	return readOptionFunc(func(c *readConfig) { c.warnSkew = d })
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
	cfg := readConfig{name: "Read", maxSkew: -1, warnSkew: DefaultFutureSkewWarning}
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

// Source returns the pipeline.Source[T] read (for runners that read sources their own way).
func (r *readOp[T]) Source() any { return r.src }

func (r *readOp[T]) Bounded() bool { return r.src.Bounded() }

func (r *readOp[T]) IdleTimeout() time.Duration { return r.cfg.idle }

func (r *readOp[T]) HasDeadLetters() bool { return r.dlq }

// SetDefaultLogger passes the runner's logger to the source when it implements DefaultLogger.
func (r *readOp[T]) SetDefaultLogger(l *slog.Logger) {
	if d, ok := r.src.(DefaultLogger); ok {
		d.SetDefaultLogger(l)
	}
}

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
	sr := &splitRunner[T]{src: r.src.Name(), split: split.ID, r: rd, skew: r.cfg.maxSkew, refuse: true}
	if sr.skew < 0 {
		sr.skew, sr.refuse = r.cfg.warnSkew, false
	}
	sr.b.Watermark = MinTime
	return sr, nil
}

type splitRunner[T any] struct {
	src, split string
	r          SplitReader[T]
	b          Batch[T]
	chunk      []Element[T]  // elements on their way to the fused stage, PushChunk at a time
	now        time.Time     // processing time of the next Read (SetProcessingTime); zero: time.Now()
	skew       time.Duration // records further ahead of now are refused (refuse) or counted; < 0: no check
	refuse     bool
	// counts since the last TakeCounts
	deadLettered, future int64
	firstFuture          string
}

// SetProcessingTime sets the processing time the next Read compares event times with (the runner's clock at
// the micro-batch); without it, Read uses time.Now().
func (s *splitRunner[T]) SetProcessingTime(now time.Time) { s.now = now }

// TakeCounts returns what the reads since the last call sent to the dead-letter output, how many records were
// ahead of processing time by more than the MaxFutureSkew bound or the warning threshold, and, without
// MaxFutureSkew, a description of the first such record to warn about ("" when none), then resets them.
func (s *splitRunner[T]) TakeCounts() (deadLettered, future int64, firstFuture string) {
	deadLettered, future, firstFuture = s.deadLettered, s.future, s.firstFuture
	s.deadLettered, s.future, s.firstFuture = 0, 0, ""
	return deadLettered, future, firstFuture
}

// ahead handles record i, whose event time t is more than the skew ahead of now: counted, and with MaxFutureSkew
// refused — to the dead-letter output, or as the error stopping the read. skip says it was refused.
func (s *splitRunner[T]) ahead(v T, t Time, now time.Time, dlq any) (skip bool, err error) {
	s.future++
	if s.firstFuture == "" && !s.refuse { // refused records are dead letters or the run's error: no warning
		s.firstFuture = fmt.Sprintf("split %s: event time %s is %s ahead of processing time %s", s.split, t,
			t.Std().Sub(now).Round(time.Second), now.UTC().Format(time.RFC3339))
	}
	if !s.refuse {
		return false, nil
	}
	re := &RecordError{Source: s.src, Location: "split " + s.split, Value: v,
		Err: fmt.Errorf("%w: %s is %s ahead of %s (MaxFutureSkew %s)", ErrFutureEventTime, t,
			t.Std().Sub(now).Round(time.Millisecond), now.UTC().Format("2006-01-02T15:04:05.000Z"), s.skew)}
	d, _ := dlq.(pusher[*RecordError])
	if d == nil {
		return true, re
	}
	s.deadLettered++
	return true, d.Push(Element[*RecordError]{Value: re, Time: MinTime, Window: GlobalWindow, Pane: NoFiringPane})
}

// Read reads one batch and pushes its records to out (a pusher of T) and its failures to dlq (a pusher of
// *RecordError, or nil: the first failure is returned as the error). It reports the number of records and bytes,
// the largest event time (of the records pushed to out), and the source's watermark hint. Records too far ahead
// of processing time (MaxFutureSkew) are failures too.
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
	limit := MaxTime // event times beyond it are too far ahead of processing time
	now := s.now
	if s.skew >= 0 {
		if now.IsZero() {
			now = time.Now()
		}
		limit = TimeOf(now).Add(s.skew)
	}
	for i := range vals {
		t := times[i]
		if t > limit {
			skip, err := s.ahead(vals[i], t, now, dlq)
			if err != nil {
				return i, s.b.Bytes, maxTime, s.b.Watermark, err
			}
			if skip {
				continue
			}
		}
		if t > maxTime {
			maxTime = t
		}
		s.chunk = append(s.chunk, Element[T]{Value: vals[i], Time: t, Window: GlobalWindow, Pane: NoFiringPane})
		if len(s.chunk) == PushChunk {
			err := pushAll(o, s.chunk)
			clear(s.chunk) // release values (the callee may have changed them)
			s.chunk = s.chunk[:0]
			if err != nil {
				return i, s.b.Bytes, maxTime, s.b.Watermark, err
			}
		}
	}
	if len(s.chunk) > 0 {
		err := pushAll(o, s.chunk)
		clear(s.chunk)
		s.chunk = s.chunk[:0]
		if err != nil {
			return len(vals), s.b.Bytes, maxTime, s.b.Watermark, err
		}
	}
	if len(s.b.Failures) > 0 {
		d, _ := dlq.(pusher[*RecordError])
		for _, f := range s.b.Failures {
			if f.Source == "" {
				f.Source = s.src
			}
			if d == nil || errors.Is(f.Err, ErrUnavailable) { // no dead letters, or not the record's fault: fail
				return len(vals), s.b.Bytes, maxTime, s.b.Watermark, f
			}
			s.deadLettered++
			if err := d.Push(Element[*RecordError]{Value: f, Time: MinTime, Window: GlobalWindow, Pane: NoFiringPane}); err != nil {
				return len(vals), s.b.Bytes, maxTime, s.b.Watermark, err
			}
		}
	}
	return len(vals), s.b.Bytes, maxTime, s.b.Watermark, rerr
}

func (s *splitRunner[T]) Position() []byte { return s.r.Position() }

func (s *splitRunner[T]) Close() error { return s.r.Close() }
