package kafkaio

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Sink writes elements to a Kafka topic. Each runner shard gets its own writer (one producer client). Create it
// with NewSink. With WriteConfig.ExactlyOnce the writers are transactional (see docs/kafka.md); otherwise they are
// at-least-once: Prepare returns once every record written so far is acknowledged by all in-sync replicas, and
// Commit does nothing.
type Sink[T any] struct {
	cfg  WriteConfig[T]
	name string
}

var _ pipeline.Sink[[]byte] = (*Sink[[]byte])(nil)

// NewSink validates cfg and returns the sink. It does not contact the brokers: Open does.
func NewSink[T any](cfg WriteConfig[T]) (*Sink[T], error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := cfg.withDefaults()
	return &Sink[T]{cfg: c, name: sourceName(c.Brokers, c.Topic)}, nil
}

// Name is kafka://broker[,broker]/topic.
func (s *Sink[T]) Name() string { return s.name }

// Open opens the writer of a shard. It checks that the topic exists, so a missing topic or unreachable brokers
// fail here (after at most Timeout) with an error that says so.
func (s *Sink[T]) Open(ctx context.Context, shard pipeline.Shard) (pipeline.SinkWriter[T], error) {
	if s.cfg.ExactlyOnce {
		return openTxnWriter(ctx, s, shard)
	}
	h := newHealth(s.name, s.cfg.Logger)
	cl, err := kgo.NewClient(producerOpts(&s.cfg, h)...)
	if err != nil {
		return nil, fmt.Errorf("%s: shard %d: %w", s.name, shard.Index, err)
	}
	if _, err := listPartitions(ctx, cl, h, s.name, s.cfg.Topic, s.cfg.Timeout); err != nil {
		closeClient(cl, h)
		return nil, err
	}
	return &writer[T]{sink: s, shard: shard, p: newProducer(s.name, cl, h, s.cfg.Timeout)}, nil
}

func producerOpts[T any](cfg *WriteConfig[T], h *health) []kgo.Opt {
	codec := kgo.NoCompression()
	c, _ := parseCompression(cfg.Compression) // validated
	switch c {
	case Gzip:
		codec = kgo.GzipCompression()
	case Snappy:
		codec = kgo.SnappyCompression()
	case LZ4:
		codec = kgo.Lz4Compression()
	case Zstd:
		codec = kgo.ZstdCompression()
	}
	part := kgo.StickyKeyPartitioner(nil)
	switch cfg.Partitioning {
	case RoundRobin:
		part = kgo.RoundRobinPartitioner()
	case Manual:
		part = kgo.ManualPartitioner()
	}
	return append(baseOpts(cfg.Brokers, cfg.ClientID, cfg.Timeout, cfg.Logger, h),
		kgo.DefaultProduceTopic(cfg.Topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(codec),
		kgo.ProducerBatchMaxBytes(cfg.BatchMaxBytes),
		kgo.ProducerLinger(cfg.Linger),
		kgo.MaxBufferedRecords(cfg.MaxBufferedRecords),
		kgo.RecordPartitioner(part),
	)
}

// maxRecordTime is the largest timestamp written from an element's event time (9999-12-31T23:59:59.999Z);
// elements outside [0, maxRecordTime] (no event time, end of the global window) get the produce time.
const maxRecordTime = 253402300799999

// record encodes one element.
func record[T any](cfg *WriteConfig[T], name string, shard int, e *pipeline.Element[T]) (*kgo.Record, error) {
	m, err := cfg.Encode(e.Value)
	if err != nil {
		return nil, fmt.Errorf("%s: shard %d: encode element with event time %s: %w", name, shard, e.Time, err)
	}
	r := &kgo.Record{Topic: m.Topic, Partition: m.Partition, Key: m.Key, Value: m.Value, Timestamp: m.Time}
	if r.Timestamp.IsZero() && e.Time >= 0 && e.Time <= maxRecordTime {
		r.Timestamp = time.UnixMilli(int64(e.Time))
	}
	if len(m.Headers) > 0 {
		r.Headers = make([]kgo.RecordHeader, len(m.Headers))
		for i, h := range m.Headers {
			r.Headers[i] = kgo.RecordHeader{Key: h.Key, Value: h.Value}
		}
	}
	return r, nil
}

// produceError names where a record failed.
func produceError(name string, r *kgo.Record, err error) error {
	where := "topic " + r.Topic
	if r.Partition >= 0 {
		where = fmt.Sprintf("topic %s partition %d", r.Topic, r.Partition)
	}
	return fmt.Errorf("%s: produce to %s: %w", name, where, err)
}

// producer wraps a kgo producing client: it remembers the first failed record and, through a watchdog, gives up
// when records wait for acknowledgement for longer than the timeout without any progress (kgo itself retries
// forever), failing Write and Prepare with an error that names the last broker failure.
type producer struct {
	name    string
	cl      *kgo.Client
	h       *health
	timeout time.Duration
	promise func(*kgo.Record, error)

	stuck       context.Context // cancelled, with the error as cause, when the watchdog gives up
	cancelStuck context.CancelCauseFunc
	acked       atomic.Int64
	stop        chan struct{}
	closeOnce   sync.Once

	mu  sync.Mutex
	err error // first failure; sticky until reset
}

func newProducer(name string, cl *kgo.Client, h *health, timeout time.Duration) *producer {
	p := &producer{name: name, cl: cl, h: h, timeout: timeout, stop: make(chan struct{})}
	p.stuck, p.cancelStuck = context.WithCancelCause(context.Background())
	p.promise = p.done
	go p.watch()
	return p
}

func (p *producer) done(r *kgo.Record, err error) {
	if err == nil {
		p.acked.Add(1)
		return
	}
	if cause := context.Cause(p.stuck); cause != nil && errors.Is(err, context.Canceled) {
		err = cause
	} else {
		err = produceError(p.name, r, err)
	}
	p.mu.Lock()
	if p.err == nil {
		p.err = err
	}
	p.mu.Unlock()
}

// watch cancels p.stuck when records have been waiting without a single acknowledgement for p.timeout.
func (p *producer) watch() {
	tick := time.NewTicker(min(p.timeout/4, time.Second))
	defer tick.Stop()
	last, since := p.acked.Load(), time.Now()
	for {
		select {
		case <-p.stop:
			return
		case <-tick.C:
		}
		acked, waiting := p.acked.Load(), p.cl.BufferedProduceRecords()
		if acked != last || waiting == 0 {
			last, since = acked, time.Now()
			continue
		}
		if d := time.Since(since); d > p.timeout {
			err := fmt.Errorf("%d records not acknowledged for %s", waiting, d.Round(time.Millisecond))
			if last := p.h.last(); last != nil {
				err = fmt.Errorf("%w: last broker error: %w", err, last)
			}
			p.h.log.Warn("kafka: giving up on unacknowledged records", "sink", p.name, "err", err)
			p.mu.Lock()
			if p.err == nil {
				p.err = err
			}
			p.mu.Unlock()
			p.cancelStuck(err)
			return
		}
	}
}

func (p *producer) failed() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *producer) reset() {
	p.mu.Lock()
	p.err = nil
	p.mu.Unlock()
}

// produce hands records to kgo; it blocks only while the buffer is full, until the watchdog gives up. The records
// carry the producer's own context (kgo fails a buffered record whose context ends), so ctx is checked between
// records only.
func (p *producer) produce(ctx context.Context, rs []*kgo.Record) error {
	if err := p.failed(); err != nil {
		return err
	}
	for _, r := range rs {
		if err := ctx.Err(); err != nil {
			return err
		}
		p.cl.Produce(p.stuck, r, p.promise)
	}
	if err := context.Cause(p.stuck); err != nil {
		return err
	}
	return p.failed()
}

// flush waits for the acknowledgement of every record produced so far.
func (p *producer) flush(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(p.stuck, func() { cancel(context.Cause(p.stuck)) })
	defer stop()
	if err := p.cl.Flush(ctx); err != nil {
		if cause := context.Cause(ctx); cause != nil {
			return cause
		}
		return err
	}
	return p.failed()
}

func (p *producer) close() {
	p.closeOnce.Do(func() {
		close(p.stop)
		p.cancelStuck(errors.New("kafkaio: writer closed"))
		closeClient(p.cl, p.h)
	})
}

// writer is the at-least-once writer of a shard.
type writer[T any] struct {
	sink  *Sink[T]
	shard pipeline.Shard
	p     *producer
	recs  []*kgo.Record
}

// Write hands the elements to the producer, which batches, compresses and sends them in the background; it
// blocks only when MaxBufferedRecords are awaiting acknowledgement.
func (w *writer[T]) Write(ctx context.Context, elems []pipeline.Element[T]) error {
	w.recs = w.recs[:0]
	for i := range elems {
		r, err := record(&w.sink.cfg, w.sink.name, w.shard.Index, &elems[i])
		if err != nil {
			return err
		}
		w.recs = append(w.recs, r)
	}
	err := w.p.produce(ctx, w.recs)
	clear(w.recs)
	if err != nil {
		return fmt.Errorf("%s: shard %d: write: %w", w.sink.name, w.shard.Index, err)
	}
	return nil
}

// Prepare waits until every record written so far is acknowledged by all in-sync replicas and returns an empty
// token. It fails when a record failed, or when records have waited Timeout without progress.
func (w *writer[T]) Prepare(ctx context.Context, epoch pipeline.Epoch) ([]byte, error) {
	if err := w.p.flush(ctx); err != nil {
		return nil, fmt.Errorf("%s: shard %d: prepare epoch %d: %w", w.sink.name, w.shard.Index, epoch.ID, err)
	}
	return nil, nil
}

// Commit does nothing: at-least-once records are visible once acknowledged.
func (w *writer[T]) Commit(context.Context, []byte) error { return nil }

// Close closes the producer; records not yet acknowledged fail.
func (w *writer[T]) Close(context.Context) error {
	w.p.close()
	return nil
}
