package kinesisio

import (
	"context"
	"fmt"
	"log/slog"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kappaflow/kappa/pipeline"
)

// Sink writes elements to a Kinesis stream with PutRecords, in batches of at most MaxBatchRecords records and
// MaxBatchBytes bytes.
//
// Delivery is at-least-once: Kinesis has no transactions, so Prepare sends everything written so far and waits
// until Kinesis has accepted every record, and Commit does nothing. A job restarted from its last checkpoint
// writes again the records of the epochs after it. Consumers that need exactly-once deduplicate, e.g. by a key
// in the data.
//
// Entries that a PutRecords call rejects (FailedRecordCount > 0: throttled shards, internal failures) are retried
// alone, in their original order, with backoff, before any later record is sent; so a partition key's records
// keep their order unless Kinesis accepted a later record of the key in the same call that rejected an earlier
// one (Kinesis does not say it never does; with one writer per key and no throttling the order is exact).
type Sink[T any] struct {
	cfg    WriteConfig[T]
	stream string
	name   string
	cc     *clientCache
	log    *slog.Logger
	retry  retrier
}

// NewSink returns a sink for cfg. It does not contact Kinesis.
func NewSink[T any](cfg WriteConfig[T]) (*Sink[T], error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	u, _ := ParseURL(cfg.Stream)
	if cfg.MaxBatchRecords == 0 {
		cfg.MaxBatchRecords = MaxPutRecords
	}
	if cfg.MaxBatchBytes == 0 {
		cfg.MaxBatchBytes = MaxPutRecordsBytes
	}
	cfg.Retry = cfg.Retry.withDefaults()
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Sink[T]{
		cfg:    cfg,
		stream: u.Stream,
		name:   "kinesis://" + u.Stream,
		cc:     &clientCache{conn: cfg.Connection, url: u},
		log:    cfg.Logger.With("sink", "kinesis://"+u.Stream),
	}
	s.retry = retrier{r: cfg.Retry, log: s.log}
	return s, nil
}

// Name is "kinesis://STREAM".
func (s *Sink[T]) Name() string { return s.name }

// Open returns the writer of one shard of the sink (a runner worker, not a Kinesis shard).
func (s *Sink[T]) Open(ctx context.Context, shard pipeline.Shard) (pipeline.SinkWriter[T], error) {
	client, err := s.cc.get(ctx)
	if err != nil {
		return nil, err
	}
	return &sinkWriter[T]{s: s, client: client, log: s.log.With("writer", shard.Index)}, nil
}

type sinkWriter[T any] struct {
	s      *Sink[T]
	client *kinesis.Client
	log    *slog.Logger
	buf    []types.PutRecordsRequestEntry
	bytes  int
}

// Write encodes elems and sends full batches; the rest waits for more elements or Prepare.
func (w *sinkWriter[T]) Write(ctx context.Context, elems []pipeline.Element[T]) error {
	for i := range elems {
		key, data, err := w.s.cfg.Encoder(elems[i].Value)
		if err != nil {
			return fmt.Errorf("kinesis stream %q: encode element at %v: %w", w.s.stream, elems[i].Time, err)
		}
		if n := utf8.RuneCountInString(key); n < 1 || n > 256 {
			return fmt.Errorf("kinesis stream %q: partition key %q has %d characters; Kinesis wants 1 to 256", w.s.stream, key, n)
		}
		size := len(key) + len(data)
		if size > MaxRecordBytes {
			return fmt.Errorf("kinesis stream %q: record with partition key %q has %d bytes; Kinesis takes at most %d", w.s.stream, key, size, MaxRecordBytes)
		}
		if len(w.buf) >= w.s.cfg.MaxBatchRecords || w.bytes+size > w.s.cfg.MaxBatchBytes {
			if err := w.flush(ctx); err != nil {
				return err
			}
		}
		w.buf = append(w.buf, types.PutRecordsRequestEntry{PartitionKey: aws.String(key), Data: data})
		w.bytes += size
	}
	if len(w.buf) >= w.s.cfg.MaxBatchRecords {
		return w.flush(ctx)
	}
	return nil
}

// flush sends the buffer with PutRecords until every record is accepted.
func (w *sinkWriter[T]) flush(ctx context.Context) error {
	entries := w.buf
	bo := backoff{min: w.s.cfg.Retry.MinBackoff, max: w.s.cfg.Retry.MaxBackoff}
	var stuckSince time.Time // first partial failure without progress
	for len(entries) > 0 {
		var out *kinesis.PutRecordsOutput
		err := w.s.retry.do(ctx, "PutRecords", func(ctx context.Context) (err error) {
			out, err = w.client.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(w.s.stream), Records: entries})
			return err
		})
		if err != nil {
			if isNotFound(err) {
				return &NotFoundError{Stream: w.s.stream, Op: "PutRecords", Err: err}
			}
			return fmt.Errorf("kinesis stream %q: PutRecords of %d records: %w", w.s.stream, len(entries), err)
		}
		if len(out.Records) != len(entries) {
			return fmt.Errorf("kinesis stream %q: PutRecords answered %d results for %d records", w.s.stream, len(out.Records), len(entries))
		}
		if aws.ToInt32(out.FailedRecordCount) == 0 {
			break
		}
		// Keep the failed entries, in order, for the next attempt.
		failed := entries[:0]
		var code, msg string
		allThrottled := true
		for i, res := range out.Records {
			if res.ErrorCode == nil {
				continue
			}
			if code == "" {
				code, msg = aws.ToString(res.ErrorCode), aws.ToString(res.ErrorMessage)
			}
			allThrottled = allThrottled && throttleCodes[aws.ToString(res.ErrorCode)]
			failed = append(failed, entries[i])
		}
		now := time.Now()
		switch {
		case len(failed) < len(entries):
			stuckSince = time.Time{}
		case allThrottled:
			// throttling without progress is retried for as long as it lasts
		case stuckSince.IsZero():
			stuckSince = now
		case now.Sub(stuckSince) > w.s.cfg.Retry.Timeout:
			return fmt.Errorf("kinesis stream %q: PutRecords: %d records still failing after %v: %s: %s", w.s.stream, len(failed), now.Sub(stuckSince).Round(time.Millisecond), code, msg)
		}
		d := bo.next()
		w.log.Warn("kinesis PutRecords partially failed; retrying the failed records", "failed", len(failed), "records", len(entries), "error_code", code, "error", msg, "backoff", d)
		if err := sleep(ctx, d); err != nil {
			return fmt.Errorf("kinesis stream %q: retrying %d failed records: %w", w.s.stream, len(failed), err)
		}
		entries = failed
	}
	clear(w.buf)
	w.buf, w.bytes = w.buf[:0], 0
	return nil
}

// Prepare sends every record written so far and waits until Kinesis accepted all. The token is empty.
func (w *sinkWriter[T]) Prepare(ctx context.Context, _ pipeline.Epoch) ([]byte, error) {
	if err := w.flush(ctx); err != nil {
		return nil, err
	}
	return nil, nil
}

// Commit does nothing: Prepare already delivered (at-least-once).
func (w *sinkWriter[T]) Commit(context.Context, []byte) error { return nil }

// Close drops the records written since the last Prepare that have not been sent yet.
func (w *sinkWriter[T]) Close(context.Context) error {
	if len(w.buf) > 0 {
		w.log.Debug("kinesis writer closed with unsent records", "dropped", len(w.buf))
	}
	w.buf, w.bytes = nil, 0
	return nil
}

var _ pipeline.Sink[[]byte] = (*Sink[[]byte])(nil)
