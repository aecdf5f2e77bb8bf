package kafkaio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Source reads a Kafka topic: one split per partition, read with read_committed isolation (records of aborted
// transactions and transaction markers are never returned). It implements pipeline.Source[T] and
// pipeline.Acknowledger (consumer-group offsets, committed only when the runner acknowledges a durable
// checkpoint). Create it with NewSource.
type Source[T any] struct {
	cfg  ReadConfig[T]
	name string
	// ownLogger says that ReadConfig.Logger was set: the runner's logger (SetDefaultLogger) does not replace it.
	ownLogger bool

	mu      sync.Mutex
	member  *member // consumer-group mode, created by the first Splits or Open
	readers int     // open split readers; the group member is closed when the last one closes
	// latest holds, with Start = Latest, the end offsets of the partitions listed by the first Splits call:
	// those partitions start there, partitions created later start at their beginning.
	latest map[int32]int64
	// topicID is the topic's ID when this source first saw it (zero: not yet, or a broker without topic IDs).
	topicID [16]byte
	// check caches the topic's current state for idle readers, refreshed at most every verifyEvery.
	check topicCheck
}

// topicCheck is a cached metadata answer about the topic: whether it exists, and its ID.
type topicCheck struct {
	mu     sync.Mutex
	at     time.Time
	exists bool
	id     [16]byte
	ok     bool // at least one answer
}

// verifyEvery is how often idle readers check, through the source, that their topic is still the one they read.
const verifyEvery = time.Second

var (
	_ pipeline.Source[[]byte] = (*Source[[]byte])(nil)
	_ pipeline.Acknowledger   = (*Source[[]byte])(nil)
)

// NewSource validates cfg and returns the source. It does not contact the brokers: errors about them come from
// Splits and Open.
func NewSource[T any](cfg ReadConfig[T]) (*Source[T], error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := cfg.withDefaults()
	return &Source[T]{cfg: c, name: sourceName(c.Brokers, c.Topic), ownLogger: cfg.Logger != nil}, nil
}

// SetDefaultLogger makes the source, and the Kafka client under it, log to l (the job's logger, set by the
// runner before it reads) unless ReadConfig.Logger names one (pipeline.DefaultLogger).
func (s *Source[T]) SetDefaultLogger(l *slog.Logger) {
	if l != nil && !s.ownLogger {
		s.cfg.Logger = l
	}
}

// Name is kafka://broker[,broker]/topic.
func (s *Source[T]) Name() string { return s.name }

// Bounded reports ReadConfig.Bounded.
func (s *Source[T]) Bounded() bool { return s.cfg.Bounded }

// ProcessLocal reports whether the source reads only this process's share of the topic (group mode) and whether
// per-process results were accepted (internal/exec.ProcessLocalSource).
func (s *Source[T]) ProcessLocal() (local, accepted bool) {
	return s.cfg.Group != "", s.cfg.PerProcessResults
}

// Splits lists the partitions to read: all of the topic's (or the configured ones) with explicit assignment, or
// the ones the consumer group currently assigns to this process. It is called again by the runner to pick up new
// partitions.
func (s *Source[T]) Splits(ctx context.Context) ([]pipeline.Split, error) {
	if err := s.resolveLatest(ctx); err != nil {
		return nil, err
	}
	var parts []int32
	if s.cfg.Group != "" {
		m, err := s.groupMember(ctx)
		if err != nil {
			return nil, err
		}
		if parts, err = m.assigned(ctx); err != nil {
			return nil, err
		}
	} else {
		all, err := s.listPartitions(ctx)
		if err != nil {
			return nil, err
		}
		parts = all
		if len(s.cfg.Partitions) > 0 {
			parts = parts[:0:0]
			for _, p := range s.cfg.Partitions {
				if !slices.Contains(all, p) {
					return nil, fmt.Errorf("%s: partition %d does not exist (the topic has %d partitions)", s.name, p, len(all))
				}
				parts = append(parts, p)
			}
			slices.Sort(parts)
		}
	}
	splits := make([]pipeline.Split, len(parts))
	for i, p := range parts {
		splits[i] = pipeline.Split{ID: strconv.Itoa(int(p))}
	}
	return splits, nil
}

// resolveLatest records, once, the end offsets of the topic's partitions when Start is Latest.
func (s *Source[T]) resolveLatest(ctx context.Context) error {
	s.mu.Lock()
	done := s.latest != nil
	s.mu.Unlock()
	if done || s.cfg.Start.kind != 1 {
		return nil
	}
	h := newHealth(s.name, s.cfg.Logger)
	cl, err := kgo.NewClient(baseOpts(s.cfg.Brokers, s.cfg.ClientID, s.cfg.Timeout, s.cfg.Logger, h)...)
	if err != nil {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	defer closeClient(cl, h)
	parts, err := listPartitions(ctx, cl, h, s.name, s.cfg.Topic, s.cfg.Timeout)
	if err != nil {
		return err
	}
	latest := make(map[int32]int64, len(parts))
	for _, p := range parts {
		if latest[p], err = listOffset(ctx, cl, h, s.name, s.cfg.Topic, p, listLatest, s.cfg.Timeout); err != nil {
			return err
		}
	}
	s.mu.Lock()
	if s.latest == nil {
		s.latest = latest
	}
	s.mu.Unlock()
	return nil
}

// latestStart reports, for Start = Latest, whether the first Splits call has resolved the partitions' ends
// (known), and whether p was one of them (listed) with its end (off).
func (s *Source[T]) latestStart(p int32) (off int64, known, listed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.latest == nil {
		return 0, false, false
	}
	off, listed = s.latest[p]
	return off, true, listed
}

func (s *Source[T]) listPartitions(ctx context.Context) ([]int32, error) {
	h := newHealth(s.name, s.cfg.Logger)
	cl, err := kgo.NewClient(baseOpts(s.cfg.Brokers, s.cfg.ClientID, s.cfg.Timeout, s.cfg.Logger, h)...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	defer closeClient(cl, h)
	ps, id, err := topicMetadata(ctx, cl, h, s.name, s.cfg.Topic, s.cfg.Timeout)
	if err != nil {
		if known := s.knownTopicID(); known != ([16]byte{}) && errors.Is(err, ErrUnknownTopic) {
			return nil, topicGone(s.name, "list partitions", s.cfg.Topic)
		}
		return nil, err
	}
	if err := s.noteTopicID("list partitions", id); err != nil {
		return nil, err
	}
	return ps, nil
}

// knownTopicID returns the topic ID this source first saw (zero when none).
func (s *Source[T]) knownTopicID() [16]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.topicID
}

// noteTopicID records the first topic ID seen, and refuses a different one later: the topic was created again
// while the job ran.
func (s *Source[T]) noteTopicID(loc string, id [16]byte) error {
	if id == ([16]byte{}) {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.topicID {
	case [16]byte{}:
		s.topicID = id
	case id:
	default:
		return topicRecreated(s.name, loc, s.cfg.Topic, s.topicID, id)
	}
	return nil
}

// currentTopic reports whether the topic exists and its ID, from a metadata answer at most verifyEvery old
// (asked with cl, waiting at most wait; ok is false without any answer yet). Broker failures are ignored here:
// the readers' health tracking reports them.
func (s *Source[T]) currentTopic(ctx context.Context, cl *kgo.Client, wait time.Duration) (exists bool, id [16]byte, ok bool) {
	c := &s.check
	c.mu.Lock()
	if time.Since(c.at) < verifyEvery {
		defer c.mu.Unlock()
		return c.exists, c.id, c.ok
	}
	c.at = time.Now()
	c.mu.Unlock()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(s.cfg.Topic)
	req.Topics = append(req.Topics, rt)
	rctx, cancel := context.WithTimeout(ctx, max(wait, 100*time.Millisecond))
	resp, err := req.RequestWith(rctx, cl)
	cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		return c.exists, c.id, c.ok
	}
	c.exists, c.id, c.ok = false, [16]byte{}, true
	for _, t := range resp.Topics {
		if t.Topic != nil && *t.Topic == s.cfg.Topic {
			switch err := kerr.ErrorForCode(t.ErrorCode); {
			case err == nil:
				c.exists, c.id = true, t.TopicID
			case !errors.Is(err, kerr.UnknownTopicOrPartition):
				c.ok = false // some other answer: no conclusion
			}
		}
	}
	return c.exists, c.id, c.ok
}

// Open opens the reader of a partition at pos, or, when pos is nil, at the group's committed offset (group
// mode) or the configured Start.
func (s *Source[T]) Open(ctx context.Context, split pipeline.Split, pos []byte) (pipeline.SplitReader[T], error) {
	p, err := parseSplitID(split.ID)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	r := &reader[T]{src: s, cfg: &s.cfg, partition: p, next: -1, end: -1, head: -1}
	r.loc = "partition " + split.ID
	if pos != nil {
		if r.next, r.posTopicID, err = decodePosition(pos); err != nil {
			return nil, fmt.Errorf("%s: partition %d: %w", s.name, p, err)
		}
	}
	if s.cfg.Group != "" {
		m, err := s.groupMember(ctx)
		if err != nil {
			return nil, err
		}
		r.member = m
		_, r.assignSeq = m.owns(p)
	}
	if err := r.open(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.readers++
	s.mu.Unlock()
	return r, nil
}

// Ack commits the positions to the consumer group (group mode; a no-op with explicit assignment). The runner
// calls it only once the checkpoint holding the positions is durable. Partitions this process no longer owns
// are skipped, so a rebalance never rewinds the new owner's offsets.
func (s *Source[T]) Ack(ctx context.Context, positions map[string][]byte) error {
	if s.cfg.Group == "" || len(positions) == 0 {
		return nil
	}
	s.mu.Lock()
	m := s.member
	s.mu.Unlock()
	if m == nil {
		return fmt.Errorf("%s: ack: not a member of group %q (the source has not been read)", s.name, s.cfg.Group)
	}
	offsets := make(map[int32]int64, len(positions))
	for id, pos := range positions {
		p, err := parseSplitID(id)
		if err != nil {
			return fmt.Errorf("%s: ack: %w", s.name, err)
		}
		off, _, err := decodePosition(pos)
		if err != nil {
			return fmt.Errorf("%s: ack partition %d: %w", s.name, p, err)
		}
		offsets[p] = off
	}
	return m.commit(ctx, offsets)
}

// Close leaves the consumer group, if the source joined one. Split readers are closed by the runner; the group is
// also left when the last of them closes.
func (s *Source[T]) Close() error {
	s.mu.Lock()
	m := s.member
	s.member = nil
	s.mu.Unlock()
	if m != nil {
		m.close()
	}
	return nil
}

func (s *Source[T]) readerClosed() {
	s.mu.Lock()
	s.readers--
	var m *member
	if s.readers == 0 && s.member != nil {
		m, s.member = s.member, nil
	}
	s.mu.Unlock()
	if m != nil {
		m.close()
	}
}

func (s *Source[T]) groupMember(ctx context.Context) (*member, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.member != nil {
		return s.member, nil
	}
	m, err := joinGroup(ctx, s.name, s.cfg.Brokers, s.cfg.ClientID, s.cfg.Group, s.cfg.Topic, s.cfg.Timeout, s.cfg.Logger)
	if err != nil {
		return nil, err
	}
	s.member = m
	return m, nil
}

// reader reads one partition with its own kgo client, which prefetches up to PartitionMaxBytes.
type reader[T any] struct {
	src       *Source[T]
	cfg       *ReadConfig[T]
	partition int32
	loc       string // "partition N"

	cl *kgo.Client
	h  *health

	next int64 // offset of the next record; -1 until resolved
	end  int64 // bounded mode: the split ends at this offset
	// topicID is the ID of the topic read (zero: a broker without topic IDs); posTopicID the one in the position
	// the reader was opened at (zero: none, or a position written before kafkaio kept topic IDs).
	topicID, posTopicID [16]byte
	pending             []*kgo.Record
	posBuf              []byte
	closed              bool

	head     int64     // the partition's last stable offset (or high watermark) at the last fetch; -1 unknown
	lastTime time.Time // timestamp of the last record taken

	member    *member // group mode
	assignSeq uint64  // the assignment the reader's position belongs to
	revoked   bool    // logged the revocation
}

// open resolves the start offset (when the reader has no position) and the end (bounded mode), then starts
// fetching.
func (r *reader[T]) open(ctx context.Context) error {
	name, cfg := r.src.name, r.cfg
	h := newHealth(name, cfg.Logger)
	admin, err := kgo.NewClient(baseOpts(cfg.Brokers, cfg.ClientID, cfg.Timeout, cfg.Logger, h)...)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", name, r.loc, err)
	}
	defer closeClient(admin, h)
	_, id, err := topicMetadata(ctx, admin, h, name+": "+r.loc, cfg.Topic, cfg.Timeout)
	if errors.Is(err, ErrUnknownTopic) {
		if r.next >= 0 { // a position for a topic that is gone
			return topicGone(name, fmt.Sprintf("%s offset %d", r.loc, r.next), cfg.Topic)
		}
		return fmt.Errorf("%s: %s: %w", name, r.loc, &unknownTopicError{topic: cfg.Topic})
	}
	if err != nil {
		return err
	}
	if r.posTopicID != ([16]byte{}) && id != ([16]byte{}) && id != r.posTopicID {
		return topicRecreated(name, fmt.Sprintf("%s offset %d", r.loc, r.next), cfg.Topic, r.posTopicID, id)
	}
	if err := r.src.noteTopicID(r.loc, id); err != nil {
		return err
	}
	r.topicID = id
	fromPosition := r.next >= 0
	if r.next < 0 && r.member != nil {
		off, err := fetchGroupOffset(ctx, admin, h, name, cfg.Group, cfg.Topic, r.partition, cfg.Timeout)
		if err != nil {
			return err
		}
		if off >= 0 {
			r.next, fromPosition = off, true
			cfg.Logger.Debug("kafka split starts at the group's committed offset", "source", name, "partition", r.partition, "offset", off)
		}
	}
	if r.next < 0 && cfg.Start.kind == 1 {
		if off, known, listed := r.src.latestStart(r.partition); listed {
			r.next = off
		} else if known {
			r.next = -2 // created after the source started: every record in it is new
			cfg.Logger.Info("kafka partition created after the source started reads from its beginning", "source", name, "partition", r.partition)
		}
	}
	if r.next < 0 {
		ts := listEarliest
		switch {
		case r.next == -2:
		case cfg.Start.kind == 1:
			ts = listLatest
		case cfg.Start.kind == 2:
			ts = cfg.Start.at.UnixMilli()
		}
		if r.next, err = listOffset(ctx, admin, h, name, cfg.Topic, r.partition, ts, cfg.Timeout); err != nil {
			return err
		}
	}
	if cfg.Bounded || fromPosition {
		end, err := listOffset(ctx, admin, h, name, cfg.Topic, r.partition, listLatest, cfg.Timeout)
		if err != nil {
			return err
		}
		if fromPosition && r.next > end { // the records before the position are gone: the broker lost data
			return topicBehind(name, fmt.Sprintf("%s offset %d", r.loc, r.next), cfg.Topic, r.partition, end, r.next)
		}
		if cfg.Bounded {
			r.end = end
		}
	}
	return r.startFetching()
}

func (r *reader[T]) startFetching() error {
	cfg := r.cfg
	r.h = newHealth(r.src.name, cfg.Logger)
	opts := append(baseOpts(cfg.Brokers, cfg.ClientID, cfg.Timeout, cfg.Logger, r.h),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{cfg.Topic: {r.partition: kgo.NewOffset().At(r.next)}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.ConsumeResetOffset(kgo.NoResetOffset()),
		kgo.FetchMaxBytes(cfg.FetchMaxBytes),
		kgo.FetchMaxPartitionBytes(cfg.PartitionMaxBytes),
		kgo.FetchMaxWait(min(cfg.Timeout/4, 5*time.Second)),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", r.src.name, r.loc, err)
	}
	r.cl = cl
	r.pending = nil
	return nil
}

// defaultMaxRecords bounds a batch when the runner gives no MaxRecords.
const defaultMaxRecords = 4096

// ReadBatch appends up to lim.MaxRecords records (and about lim.MaxBytes bytes) that are already fetched, waiting
// at most lim.MaxWait for the first ones. Transaction markers are skipped (the position moves past them); records
// Decode fails on become RecordErrors. A fetch error (offset out of range, lost data, deleted topic) or no broker
// answering for Timeout is returned as an error naming the partition and offset.
func (r *reader[T]) ReadBatch(ctx context.Context, b *pipeline.Batch[T], lim pipeline.Limits) error {
	if r.closed {
		return fmt.Errorf("%s: %s: read after Close", r.src.name, r.loc)
	}
	if r.end >= 0 && r.next >= r.end {
		return pipeline.ErrEndOfInput
	}
	if r.member != nil {
		if ok, err := r.checkOwnership(ctx, lim.MaxWait); !ok || err != nil {
			return err
		}
	}
	maxRecords := lim.MaxRecords
	if maxRecords <= 0 {
		maxRecords = defaultMaxRecords
	}
	if len(r.pending) == 0 {
		if err := r.poll(ctx, maxRecords, lim.MaxWait); err != nil {
			return err
		}
	}
	r.take(b, maxRecords, lim.MaxBytes)
	if r.end >= 0 && r.next >= r.end {
		return pipeline.ErrEndOfInput
	}
	return nil
}

// poll fills r.pending with the records the client has fetched, waiting up to wait for some (bounded splits wait
// until records come, broker health permitting).
func (r *reader[T]) poll(ctx context.Context, maxRecords int, wait time.Duration) error {
	bounded := r.end >= 0
	for {
		var fs kgo.Fetches
		if wait <= 0 && !bounded {
			fs = r.cl.PollRecords(nil, maxRecords) //nolint:staticcheck // a nil context polls without blocking
		} else {
			w := wait
			if bounded {
				w = time.Second
			}
			pctx, cancel := context.WithTimeout(ctx, w)
			fs = r.cl.PollRecords(pctx, maxRecords)
			cancel()
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%s: %s: %w", r.src.name, r.loc, err)
		}
		var ferr error
		fs.EachError(func(topic string, partition int32, err error) {
			if ferr != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				return
			}
			ferr = r.fetchError(err)
		})
		if ferr != nil {
			return ferr
		}
		fs.EachPartition(r.noteHead) // the partition's end, for Backlog
		fs.EachRecord(func(rec *kgo.Record) { r.pending = append(r.pending, rec) })
		if len(r.pending) > 0 {
			return nil
		}
		if err := r.h.unavailable(fmt.Sprintf("%s: fetch from offset %d", r.loc, r.next), r.cfg.Timeout); err != nil {
			return err
		}
		if err := r.verifyTopic(ctx, wait); err != nil {
			return err
		}
		if !bounded {
			return nil
		}
	}
}

// verifyTopic checks, when a poll found nothing, that the topic still exists with the ID the reader read it
// under: a broker that restarted without its data (the topic gone, or created again, empty, by the broker's seed
// topics or a producer) would otherwise leave the reader waiting silently at an offset of the lost topic, and a
// job draining when idle would finish as if it had read everything.
func (r *reader[T]) verifyTopic(ctx context.Context, wait time.Duration) error {
	if r.topicID == ([16]byte{}) {
		return nil // the broker has no topic IDs: kgo reports a deleted topic, a recreated one goes unseen
	}
	exists, id, ok := r.src.currentTopic(ctx, r.cl, min(wait, time.Second))
	switch {
	case !ok:
		return nil
	case !exists:
		return topicGone(r.src.name, fmt.Sprintf("%s offset %d", r.loc, r.next), r.cfg.Topic)
	case id != r.topicID && id != ([16]byte{}):
		return topicRecreated(r.src.name, fmt.Sprintf("%s offset %d", r.loc, r.next), r.cfg.Topic, r.topicID, id)
	}
	return nil
}

func (r *reader[T]) fetchError(err error) error {
	name, loc := r.src.name, r.loc
	var dl *kgo.ErrDataLoss
	switch {
	case errors.Is(err, kerr.OffsetOutOfRange):
		if lost := r.diagnose(); lost != nil {
			return lost
		}
		return fmt.Errorf("%s: %s: offset %d is out of range (deleted by retention, or the topic was recreated): %w", name, loc, r.next, err)
	case errors.As(err, &dl):
		return fmt.Errorf("%s: %s: data loss at offset %d: %w", name, loc, r.next, err)
	case errors.Is(err, kerr.UnknownTopicOrPartition), errors.Is(err, kerr.UnknownTopicID):
		if lost := r.diagnose(); lost != nil {
			return lost
		}
		return fmt.Errorf("%s: %s offset %d: %w", name, loc, r.next, &unknownTopicError{topic: r.cfg.Topic})
	case errors.Is(err, kgo.ErrClientClosed):
		return fmt.Errorf("%s: %s: reader closed: %w", name, loc, err)
	}
	return fmt.Errorf("%s: %s: fetch at offset %d: %w", name, loc, r.next, err)
}

// diagnose says, after a fetch error, whether the topic was lost: gone, created again, or ending before the
// reader's position. nil when it cannot tell (no broker answer) or the topic is as it was.
func (r *reader[T]) diagnose() error {
	ctx, cancel := context.WithTimeout(context.Background(), min(r.cfg.Timeout, 5*time.Second))
	defer cancel()
	loc := fmt.Sprintf("%s offset %d", r.loc, r.next)
	r.src.check.mu.Lock()
	r.src.check.at = time.Time{} // ask now
	r.src.check.mu.Unlock()
	exists, id, ok := r.src.currentTopic(ctx, r.cl, 5*time.Second)
	switch {
	case !ok:
		return nil
	case !exists:
		return topicGone(r.src.name, loc, r.cfg.Topic)
	case r.topicID != ([16]byte{}) && id != ([16]byte{}) && id != r.topicID:
		return topicRecreated(r.src.name, loc, r.cfg.Topic, r.topicID, id)
	}
	h := newHealth(r.src.name, r.cfg.Logger)
	end, err := listOffset(ctx, r.cl, h, r.src.name, r.cfg.Topic, r.partition, listLatest, min(r.cfg.Timeout, 5*time.Second))
	if err == nil && end < r.next {
		return topicBehind(r.src.name, loc, r.cfg.Topic, r.partition, end, r.next)
	}
	return nil
}

// take moves records from r.pending to b.
func (r *reader[T]) take(b *pipeline.Batch[T], maxRecords int, maxBytes int64) {
	cfg := r.cfg
	n, i := 0, 0
	var bytes int64
	for ; i < len(r.pending); i++ {
		if n >= maxRecords || (maxBytes > 0 && bytes >= maxBytes) {
			break
		}
		rec := r.pending[i]
		r.pending[i] = nil
		if rec.Offset < r.next {
			continue // already read (cannot happen with kgo; kept as a guard)
		}
		if r.end >= 0 && rec.Offset >= r.end {
			i = len(r.pending)
			break
		}
		r.next, r.lastTime = rec.Offset+1, rec.Timestamp
		if rec.Attrs.IsControl() {
			continue // a transaction marker: never data
		}
		n++
		bytes += int64(len(rec.Key) + len(rec.Value))
		m := Message{
			Topic:     rec.Topic,
			Partition: rec.Partition,
			Offset:    rec.Offset,
			Key:       rec.Key,
			Value:     rec.Value,
			Time:      rec.Timestamp,
		}
		if len(rec.Headers) > 0 {
			m.Headers = make([]Header, len(rec.Headers))
			for j, h := range rec.Headers {
				m.Headers[j] = Header{Key: h.Key, Value: h.Value}
			}
		}
		v, err := cfg.Decode(m)
		if err != nil {
			b.Fail(&pipeline.RecordError{
				Source:   r.src.name,
				Location: fmt.Sprintf("partition %d offset %d", rec.Partition, rec.Offset),
				Raw:      rec.Value,
				Err:      err,
			})
			continue
		}
		t := rec.Timestamp
		if cfg.EventTime != nil {
			t = cfg.EventTime(m, v)
		}
		b.Add(v, pipeline.TimeOf(t))
	}
	if i >= len(r.pending) {
		r.pending = r.pending[:0]
	} else {
		r.pending = r.pending[i:]
	}
	b.Bytes += bytes
}

// checkOwnership handles consumer-group rebalances: a revoked partition's reader idles (returning empty batches
// after waiting up to wait) until the partition comes back; then it resumes at the later of its own position
// and the group's committed offset (another member may have read on meanwhile).
func (r *reader[T]) checkOwnership(ctx context.Context, wait time.Duration) (bool, error) {
	owned, seq := r.member.owns(r.partition)
	if !owned {
		if !r.revoked {
			r.revoked = true
			r.cfg.Logger.Warn("kafka partition revoked by a consumer-group rebalance; its split idles until the group assigns it back",
				"source", r.src.name, "group", r.cfg.Group, "partition", r.partition, "position", r.next)
			r.pending = nil
			r.cl.PauseFetchPartitions(map[string][]int32{r.cfg.Topic: {r.partition}})
		}
		select {
		case <-ctx.Done():
			return false, fmt.Errorf("%s: %s: %w", r.src.name, r.loc, ctx.Err())
		case <-time.After(wait):
		case <-r.member.changed():
		}
		return false, nil
	}
	if seq == r.assignSeq {
		return true, nil
	}
	r.assignSeq = seq
	r.revoked = false
	name, cfg := r.src.name, r.cfg
	h := newHealth(name, cfg.Logger)
	admin, err := kgo.NewClient(baseOpts(cfg.Brokers, cfg.ClientID, cfg.Timeout, cfg.Logger, h)...)
	if err != nil {
		return false, fmt.Errorf("%s: %s: %w", name, r.loc, err)
	}
	defer closeClient(admin, h)
	off, err := fetchGroupOffset(ctx, admin, h, name, cfg.Group, cfg.Topic, r.partition, cfg.Timeout)
	if err != nil {
		return false, err
	}
	from := r.next
	if off > r.next {
		r.next = off
	}
	r.member.raiseFloor(r.partition, r.next)
	cfg.Logger.Info("kafka partition assigned back to this process", "source", name, "group", cfg.Group,
		"partition", r.partition, "own_position", from, "group_offset", off, "resume_at", r.next)
	closeClient(r.cl, r.h)
	if err := r.startFetching(); err != nil {
		return false, err
	}
	return true, nil
}

// Position is the offset of the next record, encoded.
func (r *reader[T]) Position() []byte {
	r.posBuf = encodePosition(r.posBuf, r.next, r.topicID)
	return r.posBuf
}

// Close stops fetching.
func (r *reader[T]) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	r.pending = nil
	if r.cl != nil {
		closeClient(r.cl, r.h)
	}
	r.src.readerClosed()
	return nil
}

// member is this process's membership of a consumer group. It only tracks the assignment and commits offsets:
// its client never fetches (the topic is paused); split readers fetch with their own clients.
type member struct {
	name, group, topic string
	cl                 *kgo.Client
	h                  *health
	timeout            time.Duration
	log                *slog.Logger

	mu       sync.Mutex
	owned    map[int32]uint64 // partition → sequence number of the assignment that gave it
	floor    map[int32]int64  // partition → offset below which Ack never commits (see commit)
	seq      uint64
	joined   chan struct{} // closed at the first assignment
	changes  chan struct{} // closed and replaced at every assignment change
	isJoined bool
	waited   bool // the first assigned call waited for the first assignment
}

func joinGroup(ctx context.Context, name string, brokers []string, clientID, group, topic string, timeout time.Duration, log *slog.Logger) (*member, error) {
	m := &member{name: name, group: group, topic: topic, timeout: timeout, log: log,
		owned: map[int32]uint64{}, floor: map[int32]int64{}, joined: make(chan struct{}), changes: make(chan struct{})}
	m.h = newHealth(name, log)
	opts := append(baseOpts(brokers, clientID, timeout, log, m.h),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) { m.assign(a[topic]) }),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, a map[string][]int32) { m.revoke("revoked", a[topic]) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, a map[string][]int32) { m.revoke("lost", a[topic]) }),
		kgo.MetadataMaxAge(10*time.Second),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("%s: join group %q: %w", name, group, err)
	}
	cl.PauseFetchTopics(topic) // the member never fetches: readers do
	m.cl = cl
	return m, nil
}

// assign records newly assigned partitions. The cooperative protocol also reports empty assignments (the
// first join, rounds that only revoke); the member counts as joined at its first non-empty one.
func (m *member) assign(ps []int32) {
	if len(ps) == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seq++
	for _, p := range ps {
		m.owned[p] = m.seq
	}
	if !m.isJoined {
		m.isJoined = true
		close(m.joined)
	}
	close(m.changes)
	m.changes = make(chan struct{})
	m.log.Info("kafka consumer group assigned partitions", "source", m.name, "group", m.group, "partitions", ps)
}

func (m *member) revoke(how string, ps []int32) {
	if len(ps) == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range ps {
		delete(m.owned, p)
	}
	close(m.changes)
	m.changes = make(chan struct{})
	m.log.Info("kafka consumer group "+how+" partitions", "source", m.name, "group", m.group, "partitions", ps)
}

func (m *member) owns(p int32) (bool, uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	seq, ok := m.owned[p]
	return ok, seq
}

func (m *member) changed() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.changes
}

// assigned returns the owned partitions. The first call waits (up to the timeout) for the first partitions to
// be assigned; a member the group gives nothing to (more members than partitions) gets an empty list then, and
// later calls return at once.
func (m *member) assigned(ctx context.Context) ([]int32, error) {
	m.cl.ForceMetadataRefresh() // notice new partitions now rather than at the next metadata refresh
	m.mu.Lock()
	wait := !m.waited
	m.waited = true
	m.mu.Unlock()
	if wait {
		t := time.NewTimer(m.timeout)
		defer t.Stop()
		select {
		case <-m.joined:
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: join group %q: %w", m.name, m.group, ctx.Err())
		case <-t.C:
			if err := m.h.unavailable(fmt.Sprintf("join group %q", m.group), 0); err != nil {
				return nil, err
			}
			if _, gen := m.cl.GroupMetadata(); gen < 0 {
				return nil, fmt.Errorf("%s: join group %q: not joined after %s", m.name, m.group, m.timeout)
			}
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	ps := make([]int32, 0, len(m.owned))
	for p := range m.owned {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps, nil
}

// raiseFloor records that a partition resumed at off after coming back: an Ack of an older checkpoint (taken
// while another member owned the partition) must not rewind the group's offset below it.
func (m *member) raiseFloor(p int32, off int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if off > m.floor[p] {
		m.floor[p] = off
	}
}

// commit commits offsets of owned partitions, skipping the others and offsets below a partition's floor.
func (m *member) commit(ctx context.Context, offsets map[int32]int64) error {
	m.mu.Lock()
	commit := make(map[int32]kgo.EpochOffset, len(offsets))
	var skipped []int32
	for p, off := range offsets {
		_, owned := m.owned[p]
		switch {
		case !owned:
			skipped = append(skipped, p)
		case off < m.floor[p]:
			m.log.Debug("kafka ack skips an offset below where the partition resumed", "source", m.name, "partition", p, "offset", off, "floor", m.floor[p])
		default:
			commit[p] = kgo.EpochOffset{Epoch: -1, Offset: off}
		}
	}
	m.mu.Unlock()
	if len(skipped) > 0 {
		slices.Sort(skipped)
		m.log.Info("kafka ack skips partitions this process no longer owns", "source", m.name, "group", m.group, "partitions", skipped)
	}
	if len(commit) == 0 {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	var cerr error
	m.cl.CommitOffsetsSync(cctx, map[string]map[int32]kgo.EpochOffset{m.topic: commit}, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			cerr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if e := kerr.ErrorForCode(p.ErrorCode); e != nil && cerr == nil {
					cerr = fmt.Errorf("partition %d: %w", p.Partition, e)
				}
			}
		}
	})
	if cerr != nil {
		return fmt.Errorf("%s: commit offsets of group %q: %w", m.name, m.group, cerr)
	}
	return nil
}

func (m *member) close() {
	closeClient(m.cl, m.h) // leaves the group
}
