package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// ErrEndOfInput is returned by a bounded split reader once it has no more records. An unbounded split never
// returns it. This is the only difference between a batch source and a stream source.
var ErrEndOfInput = errors.New("kappa: end of input")

// Source is an input of elements of type T, read in micro-batches from one or more splits (files or row groups,
// Kafka partitions, Kinesis shards, ranges of a generator).
//
// The runner calls Splits before reading and, for unbounded sources, again every discovery interval to pick up new
// splits (new partitions, child shards); splits already known are ignored by ID. A split listing Parents is opened
// only after every parent has ended, which orders reads across resharding.
//
// Positions are opaque bytes owned by the source: a reader opened at the position it reported after a batch
// continues exactly after that batch's last record. The runner stores positions in its checkpoints.
type Source[T any] interface {
	// Name identifies the source in logs, metrics and errors, e.g. "kafka://127.0.0.1:9092/events".
	Name() string
	// Bounded reports whether every split eventually returns ErrEndOfInput.
	Bounded() bool
	// Splits lists the current splits.
	Splits(ctx context.Context) ([]Split, error)
	// Open opens a reader for split, positioned at pos, or at the source's configured start when pos is nil.
	Open(ctx context.Context, split Split, pos []byte) (SplitReader[T], error)
}

// Split is one independently readable part of a source.
type Split struct {
	// ID is stable across runs and unique in the source, e.g. "3" for a partition or "s3://b/k.parquet#rg=2".
	ID string
	// Parents must all have ended before this split is opened (Kinesis child shards).
	Parents []string
	// Size estimates the split's bytes (0 = unknown), for progress reporting: the runner compares it with the
	// Batch.Bytes read from the split.
	Size int64
}

// Limits bound one micro-batch read from a split.
type Limits struct {
	// MaxRecords is the most records one ReadBatch call may append.
	MaxRecords int
	// MaxBytes is the approximate most bytes one ReadBatch call may read; 0 means no byte limit.
	MaxBytes int64
	// MaxWait is how long an unbounded split may wait for records before returning an empty or partial batch.
	MaxWait time.Duration
}

// SplitReader reads one split in micro-batches. A reader is used by one goroutine at a time.
type SplitReader[T any] interface {
	// ReadBatch appends records to b, which the runner has reset: at most lim.MaxRecords records and about
	// lim.MaxBytes bytes. A bounded split returns ErrEndOfInput when it has no more records (b may still hold a
	// final batch). An unbounded split waits at most lim.MaxWait and may return an empty batch. Any other error
	// stops the pipeline, so transient errors should be retried inside the reader (and logged).
	ReadBatch(ctx context.Context, b *Batch[T], lim Limits) error
	// Position returns the position after the last record appended so far. The runner copies it; the reader may
	// reuse the slice after the next ReadBatch.
	Position() []byte
	// Close releases the reader.
	Close() error
}

// Batch is a micro-batch of records read from one split. Times is parallel to Values.
type Batch[T any] struct {
	// Values are the decoded records, in split order.
	Values []T
	// Times are the records' event times; MinTime when the source has none (set them with windowing.WithTimestamps).
	Times []Time
	// Bytes counts the bytes read for this batch, for metrics and progress.
	Bytes int64
	// Failures are records that could not be decoded. They go to the dead-letter output when the pipeline has one
	// for this source, else the pipeline stops with the first of them.
	Failures []*RecordError
	// Watermark, when not MinTime, is the source's guarantee that no record older than it will follow on this
	// split (for example the minimum event time of a file's remaining row groups). In stream mode the split's
	// watermark is the larger of this and the runner's estimate; batch mode, which ignores estimates, still
	// honours it, so windows fire as a backfill moves past them. A wrong guarantee makes records late.
	Watermark Time
}

// Add appends one record.
func (b *Batch[T]) Add(v T, t Time) {
	b.Values = append(b.Values, v)
	b.Times = append(b.Times, t)
}

// Fail appends a record that could not be decoded.
func (b *Batch[T]) Fail(err *RecordError) { b.Failures = append(b.Failures, err) }

// Len is the number of records in the batch.
func (b *Batch[T]) Len() int { return len(b.Values) }

// Reset empties the batch, keeping its capacity.
func (b *Batch[T]) Reset() {
	clear(b.Values) // drop references so the GC can free decoded records
	b.Values = b.Values[:0]
	b.Times = b.Times[:0]
	b.Bytes = 0
	clear(b.Failures)
	b.Failures = b.Failures[:0]
	b.Watermark = MinTime
}

// ErrUnavailable marks a failure that is not the record's fault: a service its decoding needs (a schema
// registry, a lookup service) did not answer. A decoder wraps it in its error (schemareg.ErrRegistry does), and
// the read then fails with the *RecordError instead of sending the record to the dead-letter output, even when
// the source has one: the record is good, and must not be set aside with the malformed ones. Run the job from its
// last checkpoint once the service is back: the record is read again.
var ErrUnavailable = errors.New("a service the record needs is unavailable")

// RecordError is a record that could not be read or processed, with where it came from. It is what a dead-letter
// output receives.
type RecordError struct {
	// Source is the source name, e.g. "kafka://127.0.0.1:9092/events" or "s3://bucket/events/".
	Source string
	// Location says where in the source: "partition 3 offset 1234", "file x.parquet row group 2 row 17".
	Location string
	// Transform is the scope path of the transform that failed, when the failure happened after reading.
	Transform string
	// Raw holds the record's bytes when the source has them.
	Raw []byte
	// Value holds the element a transform failed on, when the failure happened after reading.
	Value any
	// Err is the cause.
	Err error
}

// Error formats the failure with its location.
func (e *RecordError) Error() string {
	where := e.Source
	if e.Location != "" {
		if where != "" {
			where += " "
		}
		where += e.Location
	}
	if e.Transform != "" {
		if where != "" {
			where = e.Transform + ": " + where
		} else {
			where = e.Transform
		}
	}
	return fmt.Sprintf("%s: %v", where, e.Err)
}

// Unwrap returns the cause.
func (e *RecordError) Unwrap() error { return e.Err }

// DefaultLogger is implemented by sources that log (connectors with a client of their own): the runner calls
// SetDefaultLogger with the job's logger before it lists splits, so that their logs — and their client
// library's — go where the job's go. A logger given in the source's own configuration takes precedence.
type DefaultLogger interface {
	SetDefaultLogger(l *slog.Logger)
}

// Acknowledger is implemented by sources that confirm consumption upstream (Kafka consumer-group offsets, Kinesis
// checkpoints). The runner calls Ack only after the checkpoint holding these positions is durable, so nothing
// acknowledged is ever lost. Positions are keyed by split ID.
type Acknowledger interface {
	Ack(ctx context.Context, positions map[string][]byte) error
}
