package kinesisio

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmw "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/kappaflow/kappa/pipeline"
)

// Source reads a Kinesis stream. Each shard is a split; a child shard lists its parent shards as Parents, so the
// runner reads it only after its parents have ended. Splits re-lists the shards, so resharding is discovered.
// The source is unbounded: only a closed shard (after a split or merge) ends, with pipeline.ErrEndOfInput once
// its last record has been read.
//
// A shard's position is the sequence number of the last record read from it; a reader opened at a position
// continues with the next record, so a restart from a checkpoint neither loses nor repeats records.
type Source[T any] struct {
	cfg    ReadConfig[T]
	stream string
	name   string
	cc     *clientCache
	decode func(Record) (T, error)
	etime  func(Record, T) time.Time
	log    *slog.Logger
	retry  retrier
	// ownLogger says that ReadConfig.Logger was set: the runner's logger (SetDefaultLogger) does not replace it.
	ownLogger bool

	mu sync.Mutex
	// t0 is the stream's time when the source first listed its shards: Start Latest as a timestamp.
	t0 time.Time
	// resumed holds the shards opened at a checkpointed position.
	resumed map[string]bool
}

// SetDefaultLogger makes the source log to l (the job's logger, set by the runner before it lists shards) unless
// ReadConfig.Logger names one (pipeline.DefaultLogger).
func (s *Source[T]) SetDefaultLogger(l *slog.Logger) {
	if l == nil || s.ownLogger {
		return
	}
	s.cfg.Logger = l
	s.log = l.With("source", s.name)
	s.retry.log = s.log
}

// NewSource returns a source for cfg. It does not contact Kinesis.
func NewSource[T any](cfg ReadConfig[T]) (*Source[T], error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	u, _ := ParseURL(cfg.Stream)
	if cfg.PollInterval == 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.IteratorMaxAge == 0 {
		cfg.IteratorMaxAge = DefaultIteratorMaxAge
	}
	if cfg.MaxRecordsPerCall == 0 {
		cfg.MaxRecordsPerCall = MaxGetRecords
	}
	cfg.Retry = cfg.Retry.withDefaults()
	own := cfg.Logger != nil
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Source[T]{
		cfg:       cfg,
		stream:    u.Stream,
		name:      "kinesis://" + u.Stream,
		cc:        &clientCache{conn: cfg.Connection, url: u},
		decode:    cfg.Decoder,
		etime:     cfg.EventTime,
		log:       cfg.Logger.With("source", "kinesis://"+u.Stream),
		resumed:   map[string]bool{},
		ownLogger: own,
	}
	s.retry = retrier{r: cfg.Retry, log: s.log}
	if s.decode == nil {
		s.decode = defaultDecoder[T]()
	}
	if s.etime == nil {
		s.etime = func(r Record, _ T) time.Time { return r.ArrivalTime }
	}
	return s, nil
}

// Name is "kinesis://STREAM".
func (s *Source[T]) Name() string { return s.name }

// Bounded is false: a stream has no end.
func (s *Source[T]) Bounded() bool { return false }

// Splits lists the stream's shards with ListShards (all pages). A shard's Parents are its parent and adjacent
// parent shards that are still listed (a parent past the stream's retention has nothing left to read).
func (s *Source[T]) Splits(ctx context.Context) ([]pipeline.Split, error) {
	client, err := s.cc.get(ctx)
	if err != nil {
		return nil, err
	}
	var shards []types.Shard
	in := &kinesis.ListShardsInput{StreamName: aws.String(s.stream)}
	for {
		var out *kinesis.ListShardsOutput
		err := s.retry.do(ctx, "ListShards", func(ctx context.Context) (err error) {
			out, err = client.ListShards(ctx, in)
			return err
		})
		if err != nil {
			return nil, s.callError("ListShards", err)
		}
		s.noteServerTime(out.ResultMetadata)
		shards = append(shards, out.Shards...)
		if aws.ToString(out.NextToken) == "" {
			break
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken} // with a token, Kinesis wants no stream name
	}
	listed := make(map[string]bool, len(shards))
	for _, sh := range shards {
		listed[aws.ToString(sh.ShardId)] = true
	}
	splits := make([]pipeline.Split, 0, len(shards))
	for _, sh := range shards {
		sp := pipeline.Split{ID: aws.ToString(sh.ShardId)}
		for _, p := range []*string{sh.ParentShardId, sh.AdjacentParentShardId} {
			if id := aws.ToString(p); id != "" && listed[id] {
				sp.Parents = append(sp.Parents, id)
			}
		}
		splits = append(splits, sp)
	}
	return splits, nil
}

// callError wraps the final error of a stream-level call.
func (s *Source[T]) callError(op string, err error) error {
	if isNotFound(err) {
		return &NotFoundError{Stream: s.stream, Op: op, Err: err}
	}
	return fmt.Errorf("kinesis stream %q: %s: %w", s.stream, op, err)
}

// noteServerTime fixes t0, Start Latest as a time, from the first response's Date header: the stream's clock,
// truncated to the second (so it never lies after the true LATEST point).
func (s *Source[T]) noteServerTime(md middleware.Metadata) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.t0.IsZero() {
		return
	}
	if t, ok := awsmw.GetServerTime(md); ok && !t.IsZero() {
		s.t0 = t.Truncate(time.Second)
	} else {
		s.t0 = time.Now().Add(-time.Second).Truncate(time.Second)
	}
}

// latest returns t0, listing the shards first if that has not happened yet.
func (s *Source[T]) latest(ctx context.Context) (time.Time, error) {
	s.mu.Lock()
	t0 := s.t0
	s.mu.Unlock()
	if !t0.IsZero() {
		return t0, nil
	}
	if _, err := s.Splits(ctx); err != nil {
		return time.Time{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.t0, nil
}

// Open opens a reader of the shard split.ID at pos, or at the configured Start when pos is nil. It does not
// contact Kinesis except to resolve Start Latest once.
//
// Without a position, Start applies, with one refinement for Latest: a child shard whose parent was opened at a
// checkpointed position starts at its first record (TRIM_HORIZON), since the job read the parent to its end and
// the child holds what followed.
func (s *Source[T]) Open(ctx context.Context, split pipeline.Split, pos []byte) (pipeline.SplitReader[T], error) {
	var start startPoint
	if pos != nil {
		p, err := parsePosition(pos)
		if err != nil {
			return nil, fmt.Errorf("kinesis stream %q shard %s: %w", s.stream, split.ID, err)
		}
		start = p
		s.mu.Lock()
		s.resumed[split.ID] = true
		s.mu.Unlock()
	} else {
		switch s.cfg.Start {
		case TrimHorizon:
			start = startPoint{kind: posTrimHorizon}
		case AtTimestamp:
			start = startPoint{kind: posAtTime, at: s.cfg.StartTime}
		case Latest:
			s.mu.Lock()
			parentResumed := false
			for _, p := range split.Parents {
				parentResumed = parentResumed || s.resumed[p]
			}
			s.mu.Unlock()
			if parentResumed {
				start = startPoint{kind: posTrimHorizon}
				break
			}
			t0, err := s.latest(ctx)
			if err != nil {
				return nil, err
			}
			start = startPoint{kind: posAtTime, at: t0}
		}
	}
	client, err := s.cc.get(ctx)
	if err != nil {
		return nil, err
	}
	r := &shardReader[T]{
		src:    s,
		client: client,
		shard:  split.ID,
		start:  start,
		bo:     backoff{min: s.cfg.Retry.MinBackoff, max: s.cfg.Retry.MaxBackoff},
		log:    s.log.With("shard", split.ID),
	}
	r.log.Debug("kinesis shard opened", "at", start.String())
	return r, nil
}

// shardReader reads one shard.
type shardReader[T any] struct {
	src    *Source[T]
	client *kinesis.Client
	shard  string
	log    *slog.Logger

	// start is where to get an iterator when no record has been fetched yet.
	start startPoint
	// appended is the sequence number of the last record appended to a batch: the position.
	appended string
	// fetched is the sequence number of the last record received: where a new iterator starts.
	fetched string
	// pending holds records received but not yet appended to a batch (a call fetches up to MaxRecordsPerCall
	// records, whatever the batch limits).
	pending []types.Record

	iter   *string   // the next shard iterator; nil when one must be acquired
	iterAt time.Time // when iter was handed out
	ended  bool      // GetRecords returned no next iterator: the shard is closed and fully received

	nextCall     time.Time // pacing and backoff: no GetRecords call before
	bo           backoff
	failingSince time.Time // first of a run of transient failures
	throttled    int       // consecutive throttled calls
	pos          []byte
	closed       bool
	behind       *int64 // MillisBehindLatest of the last GetRecords call
}

// ReadBatch appends up to lim.MaxRecords records (and about lim.MaxBytes bytes) to b. It returns as soon as it has
// some, or after lim.MaxWait without any: it waits only for the poll interval and backoffs, never past MaxWait
// (an API call in flight is bounded by Retry.CallTimeout instead). Throttling, expired iterators and transient
// errors are handled inside, with warnings logged; a closed shard returns pipeline.ErrEndOfInput after its last
// record.
func (r *shardReader[T]) ReadBatch(ctx context.Context, b *pipeline.Batch[T], lim pipeline.Limits) error {
	if r.closed {
		return fmt.Errorf("kinesis stream %q shard %s: read after Close", r.src.stream, r.shard)
	}
	maxRec := lim.MaxRecords
	if maxRec <= 0 {
		maxRec = MaxGetRecords
	}
	deadline := time.Now().Add(max(lim.MaxWait, 0))
	n, called := 0, false
	for {
		for len(r.pending) > 0 && n < maxRec && (lim.MaxBytes <= 0 || b.Bytes < lim.MaxBytes) {
			r.add(b, &r.pending[0])
			r.pending[0] = types.Record{}
			r.pending = r.pending[1:]
			n++
		}
		switch {
		case len(r.pending) > 0:
			return nil // full
		case r.ended:
			r.pending = nil
			return pipeline.ErrEndOfInput
		case n > 0:
			return nil
		}
		now := time.Now()
		if wait := r.nextCall.Sub(now); wait > 0 {
			if r.nextCall.After(deadline) {
				return sleep(ctx, deadline.Sub(now))
			}
			if err := sleep(ctx, wait); err != nil {
				return err
			}
		} else if called && now.After(deadline) {
			return nil
		}
		called = true
		if err := r.fetch(ctx, r.src.cfg.MaxRecordsPerCall); err != nil {
			return err
		}
	}
}

// fetch makes one GetRecords call (getting an iterator first when needed), moving what it receives to pending.
// Retryable failures are recorded in nextCall and return nil.
func (r *shardReader[T]) fetch(ctx context.Context, limit int) error {
	if r.iter != nil && time.Since(r.iterAt) > r.src.cfg.IteratorMaxAge {
		r.log.Debug("kinesis shard iterator too old; getting a new one", "age", time.Since(r.iterAt).Round(time.Millisecond))
		r.iter = nil
	}
	if r.iter == nil {
		if err := r.acquire(ctx); err != nil {
			return r.failed(ctx, "GetShardIterator", err)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, r.src.cfg.Retry.CallTimeout)
	out, err := r.client.GetRecords(cctx, &kinesis.GetRecordsInput{ShardIterator: r.iter, Limit: aws.Int32(int32(limit))})
	cancel()
	now := time.Now()
	r.nextCall = now.Add(r.src.cfg.PollInterval)
	if err != nil {
		return r.failed(ctx, "GetRecords", err)
	}
	if r.throttled > 0 || !r.failingSince.IsZero() {
		r.log.Info("kinesis reads recovered", "throttled", r.throttled, "failing_for", durationSince(r.failingSince, now))
	}
	r.bo.reset()
	r.throttled, r.failingSince = 0, time.Time{}
	r.iter, r.iterAt = out.NextShardIterator, now
	r.behind = out.MillisBehindLatest // for Backlog
	if k := len(out.Records); k > 0 {
		r.fetched = aws.ToString(out.Records[k-1].SequenceNumber)
		if len(r.pending) == 0 {
			r.pending = out.Records
		} else {
			r.pending = append(r.pending, out.Records...)
		}
	}
	if out.NextShardIterator == nil {
		r.ended = true
		r.log.Info("kinesis shard ended", "last_sequence", r.fetched)
	}
	return nil
}

func durationSince(t, now time.Time) time.Duration {
	if t.IsZero() {
		return 0
	}
	return now.Sub(t).Round(time.Millisecond)
}

// resumePoint is where a new iterator starts: after the last record received, else the start.
func (r *shardReader[T]) resumePoint() startPoint {
	if r.fetched != "" {
		return afterSeq(r.fetched)
	}
	return r.start
}

// acquire gets a shard iterator at resumePoint.
func (r *shardReader[T]) acquire(ctx context.Context) error {
	p := r.resumePoint()
	in := &kinesis.GetShardIteratorInput{StreamName: aws.String(r.src.stream), ShardId: aws.String(r.shard)}
	switch p.kind {
	case posAfterSeq, posAfterSeqText:
		in.ShardIteratorType = types.ShardIteratorTypeAfterSequenceNumber
		in.StartingSequenceNumber = aws.String(p.seq)
	case posAtTime:
		in.ShardIteratorType = types.ShardIteratorTypeAtTimestamp
		in.Timestamp = aws.Time(p.at)
	default:
		in.ShardIteratorType = types.ShardIteratorTypeTrimHorizon
	}
	cctx, cancel := context.WithTimeout(ctx, r.src.cfg.Retry.CallTimeout)
	out, err := r.client.GetShardIterator(cctx, in)
	cancel()
	if err != nil {
		return err
	}
	r.iter, r.iterAt = out.ShardIterator, time.Now()
	r.log.Debug("kinesis shard iterator acquired", "at", p.String())
	return nil
}

// failed handles the error of call op: retryable errors set nextCall and return nil; others are returned.
func (r *shardReader[T]) failed(ctx context.Context, op string, err error) error {
	now := time.Now()
	switch classify(ctx, err) {
	case errExpired:
		r.iter = nil
		r.log.Warn("kinesis shard iterator expired; getting a new one", "at", r.resumePoint().String(), "error", apiMessage(err))
		return nil
	case errThrottled:
		r.throttled++
		d := r.bo.next()
		r.nextCall = now.Add(max(d, r.src.cfg.PollInterval))
		r.log.Warn("kinesis read throttled; backing off", "op", op, "backoff", r.nextCall.Sub(now), "throttled", r.throttled, "error", apiMessage(err))
		return nil
	case errTransient:
		if r.failingSince.IsZero() {
			r.failingSince = now
		} else if failing := now.Sub(r.failingSince); failing > r.src.cfg.Retry.Timeout {
			return fmt.Errorf("kinesis stream %q shard %s: %s: still failing after %v: %w", r.src.stream, r.shard, op, failing.Round(time.Millisecond), err)
		}
		d := r.bo.next()
		r.nextCall = now.Add(d)
		r.log.Warn("kinesis read failed; retrying", "op", op, "backoff", d, "failing_for", now.Sub(r.failingSince).Round(time.Millisecond), "error", err)
		return nil
	case errNotFound:
		return &NotFoundError{Stream: r.src.stream, Shard: r.shard, Op: op, Err: err}
	}
	return fmt.Errorf("kinesis stream %q shard %s: %s: %w", r.src.stream, r.shard, op, err)
}

// add decodes one record into b, or records its failure.
func (r *shardReader[T]) add(b *pipeline.Batch[T], kr *types.Record) {
	rec := Record{
		ShardID:        r.shard,
		SequenceNumber: aws.ToString(kr.SequenceNumber),
		PartitionKey:   aws.ToString(kr.PartitionKey),
		Data:           kr.Data,
		ArrivalTime:    aws.ToTime(kr.ApproximateArrivalTimestamp),
	}
	r.appended = rec.SequenceNumber
	b.Bytes += int64(len(rec.Data))
	v, err := r.src.decode(rec)
	if err != nil {
		b.Fail(&pipeline.RecordError{
			Source:   r.src.name,
			Location: "shard " + r.shard + " sequence " + rec.SequenceNumber,
			Raw:      rec.Data,
			Err:      err,
		})
		return
	}
	t := pipeline.MinTime
	if et := r.src.etime(rec, v); !et.IsZero() {
		t = pipeline.TimeOf(et)
	}
	b.Add(v, t)
}

// Position is after the last record appended to a batch, or the reader's start when there is none yet.
func (r *shardReader[T]) Position() []byte {
	p := r.start
	if r.appended != "" {
		p = afterSeq(r.appended)
	}
	r.pos = appendPosition(r.pos[:0], p)
	return r.pos
}

// Close releases the reader. The client is the source's and stays open.
func (r *shardReader[T]) Close() error {
	r.closed = true
	r.pending, r.iter = nil, nil
	return nil
}

var _ pipeline.Source[[]byte] = (*Source[[]byte])(nil)
