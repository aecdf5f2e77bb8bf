package kafkaio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ErrUnknownTopic is matched (errors.Is) by the error returned when the configured topic does not exist.
var ErrUnknownTopic = errors.New("kafkaio: unknown topic")

// ErrBrokersUnavailable is matched (errors.Is) by the error returned when no broker answered within the
// configured Timeout.
var ErrBrokersUnavailable = errors.New("kafkaio: brokers unavailable")

// unknownTopicError says that a topic does not exist; name (the source or sink) is omitted when empty.
type unknownTopicError struct{ name, topic string }

func (e *unknownTopicError) Error() string {
	if e.name == "" {
		return fmt.Sprintf("topic %q does not exist", e.topic)
	}
	return fmt.Sprintf("%s: topic %q does not exist", e.name, e.topic)
}

func (e *unknownTopicError) Is(target error) bool { return target == ErrUnknownTopic }

// ErrTopicLost is matched (errors.Is) by the error a source returns when the topic it reads is not the one its
// positions belong to any more: deleted (the error also matches ErrUnknownTopic), deleted and created again (a
// new topic ID), or holding fewer records than a position — what a broker that restarted without its data
// leaves behind. Reading on would skip or re-read records silently; the job must be restarted without its
// checkpoint (or its consumer group's offsets) to read the topic as it is now.
var ErrTopicLost = errors.New("kafkaio: topic lost")

// topicLostError says why a topic's positions no longer apply; gone also makes it an ErrUnknownTopic.
type topicLostError struct {
	name, loc, topic, why string
	gone                  bool
}

func (e *topicLostError) Error() string {
	return fmt.Sprintf("%s: %s: topic %q %s", e.name, e.loc, e.topic, e.why)
}

func (e *topicLostError) Is(target error) bool {
	return target == ErrTopicLost || (e.gone && target == ErrUnknownTopic)
}

// lostAdvice ends every topicLostError message.
const lostAdvice = "(a broker restarted without its data, or the topic was deleted); restart the job without its checkpoint or consumer group offsets to read the topic as it is now"

func topicGone(name, loc, topic string) error {
	return &topicLostError{name: name, loc: loc, topic: topic, gone: true, why: "no longer exists " + lostAdvice}
}

func topicRecreated(name, loc, topic string, was, now [16]byte) error {
	return &topicLostError{name: name, loc: loc, topic: topic, why: fmt.Sprintf(
		"was created again (topic ID %s, now %s): the position belongs to the old topic %s", formatTopicID(was), formatTopicID(now), lostAdvice)}
}

func topicBehind(name, loc, topic string, partition int32, end, next int64) error {
	return &topicLostError{name: name, loc: loc, topic: topic, why: fmt.Sprintf(
		"lost records: partition %d ends at offset %d, before the position %d %s", partition, end, next, lostAdvice)}
}

// unavailableError says that no broker answered for a while, with the last failure seen.
type unavailableError struct {
	name  string
	what  string
	after time.Duration
	last  error
}

func (e *unavailableError) Error() string {
	s := fmt.Sprintf("%s: %s: no broker answered for %s", e.name, e.what, e.after.Round(time.Millisecond))
	if e.last != nil {
		s += ": last error: " + e.last.Error()
	}
	return s
}

func (e *unavailableError) Is(target error) bool { return target == ErrBrokersUnavailable }

func (e *unavailableError) Unwrap() error { return e.last }

// health tracks a client's broker round trips (kgo hooks): when the last one succeeded, and the last failure. It
// logs failures as warnings, at most one every warnEvery.
type health struct {
	name string
	log  *slog.Logger

	closing atomic.Bool // the client is being closed: its failures are expected

	mu       sync.Mutex
	lastOK   time.Time
	lastErr  error
	errSince time.Time // first failure since the last success
	lastWarn time.Time
}

const warnEvery = 5 * time.Second

func newHealth(name string, log *slog.Logger) *health {
	return &health{name: name, log: log, lastOK: time.Now()}
}

func (h *health) OnBrokerConnect(meta kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err != nil {
		h.fail(net.JoinHostPort(meta.Host, strconv.Itoa(int(meta.Port))), err)
	}
}

func (h *health) OnBrokerE2E(meta kgo.BrokerMetadata, _ int16, e2e kgo.BrokerE2E) {
	if err := e2e.Err(); err != nil {
		h.fail(net.JoinHostPort(meta.Host, strconv.Itoa(int(meta.Port))), err)
		return
	}
	h.mu.Lock()
	h.lastOK = time.Now()
	h.errSince = time.Time{}
	h.lastErr = nil
	h.mu.Unlock()
}

func (h *health) fail(addr string, err error) {
	if h.closing.Load() || errors.Is(err, context.Canceled) || errors.Is(err, kgo.ErrClientClosed) {
		return
	}
	now := time.Now()
	h.mu.Lock()
	// A timeout (often our own deadline cutting the last attempt short) says less than the failure before it,
	// such as "connection refused": keep that one.
	keep := h.lastErr != nil && isTimeout(err) && !isTimeout(h.lastErr)
	switch {
	case keep:
	case addr != "":
		h.lastErr = fmt.Errorf("broker %s: %w", addr, err)
	case h.lastErr == nil:
		h.lastErr = err
	}
	err = h.lastErr
	if h.errSince.IsZero() {
		h.errSince = now
	}
	warn := now.Sub(h.lastWarn) >= warnEvery
	if warn {
		h.lastWarn = now
	}
	h.mu.Unlock()
	if warn {
		h.log.Warn("kafka broker request failed; retrying with backoff", "source", h.name, "err", err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// unavailable returns an *unavailableError when no round trip has succeeded for longer than limit and at least
// one has failed since, else nil.
func (h *health) unavailable(what string, limit time.Duration) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.errSince.IsZero() {
		return nil
	}
	if since := time.Since(h.lastOK); since > limit {
		return &unavailableError{name: h.name, what: what, after: since, last: h.lastErr}
	}
	return nil
}

// last returns the last broker failure, or nil.
func (h *health) last() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lastErr
}

// closeClient closes a client without logging the failures of its in-flight requests.
func closeClient(cl *kgo.Client, h *health) {
	h.closing.Store(true)
	cl.Close()
}

// kgoLogger sends the Kafka client's (kgo's) logs to the job's slog logger. kgo repeats its warnings on every
// retry (a 37 s broker outage made 190 of them), and kafkaio already reports broker failures itself, as warnings
// at most every few seconds, and as errors once Timeout passes: so kgo's (rare) errors are logged as warnings,
// its warnings at Debug, and its info and debug logs are dropped.
type kgoLogger struct{ l *slog.Logger }

func (k kgoLogger) Level() kgo.LogLevel {
	ctx := context.Background()
	switch {
	case k.l.Enabled(ctx, slog.LevelDebug):
		return kgo.LogLevelWarn
	case k.l.Enabled(ctx, slog.LevelWarn):
		return kgo.LogLevelError
	}
	return kgo.LogLevelNone
}

func (k kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	lv := slog.LevelDebug
	if level == kgo.LogLevelError {
		lv = slog.LevelWarn
	}
	k.l.Log(context.Background(), lv, "kgo: "+msg, keyvals...)
}

// baseOpts are the kgo options every client of kafkaio uses.
func baseOpts(brokers []string, clientID string, timeout time.Duration, log *slog.Logger, h *health) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.ClientID(clientID),
		kgo.WithLogger(kgoLogger{log}),
		kgo.WithHooks(h),
		kgo.RetryTimeout(timeout),
		kgo.DialTimeout(min(timeout, 10*time.Second)),
		kgo.MetadataMinAge(time.Second),
		kgo.DisableClientMetrics(),
	}
}

// request sends req, retrying with backoff while no broker answers (each failure is logged as a warning, at most
// one every few seconds), for at most timeout. A Kafka error answer is returned wrapped, naming what was
// attempted; no answer within timeout is an *unavailableError with the last broker failure.
func request[R kmsg.Response](ctx context.Context, cl *kgo.Client, h *health, name, what string, timeout time.Duration, req kmsg.Request) (R, error) {
	var zero R
	start := time.Now()
	deadline := start.Add(timeout)
	backoff := 50 * time.Millisecond
	for {
		rctx, cancel := context.WithDeadline(ctx, deadline)
		resp, err := cl.Request(rctx, req)
		cancel()
		if err == nil {
			r, ok := resp.(R)
			if !ok {
				return zero, fmt.Errorf("%s: %s: unexpected response %T", name, what, resp)
			}
			return r, nil
		}
		if ctx.Err() != nil {
			return zero, fmt.Errorf("%s: %s: %w", name, what, ctx.Err())
		}
		if ke := (*kerr.Error)(nil); errors.As(err, &ke) {
			return zero, fmt.Errorf("%s: %s: %w", name, what, err)
		}
		h.fail("", err)
		wait := min(backoff, time.Until(deadline))
		if wait <= 0 {
			last := h.last()
			if last == nil {
				last = err
			}
			return zero, &unavailableError{name: name, what: what, after: time.Since(start), last: last}
		}
		select {
		case <-ctx.Done():
			return zero, fmt.Errorf("%s: %s: %w", name, what, ctx.Err())
		case <-time.After(wait):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// listPartitions returns the topic's partitions, sorted.
func listPartitions(ctx context.Context, cl *kgo.Client, h *health, name, topic string, timeout time.Duration) ([]int32, error) {
	ps, _, err := topicMetadata(ctx, cl, h, name, topic, timeout)
	return ps, err
}

// topicMetadata returns the topic's partitions, sorted, and its topic ID.
func topicMetadata(ctx context.Context, cl *kgo.Client, h *health, name, topic string, timeout time.Duration) ([]int32, [16]byte, error) {
	var id [16]byte
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	req.AllowAutoTopicCreation = false
	resp, err := request[*kmsg.MetadataResponse](ctx, cl, h, name, "list partitions", timeout, req)
	if err != nil {
		return nil, id, err
	}
	for _, t := range resp.Topics {
		if t.Topic == nil || *t.Topic != topic {
			continue
		}
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			if errors.Is(err, kerr.UnknownTopicOrPartition) {
				return nil, id, &unknownTopicError{name: name, topic: topic}
			}
			return nil, id, fmt.Errorf("%s: list partitions of topic %q: %w", name, topic, err)
		}
		ps := make([]int32, 0, len(t.Partitions))
		for _, p := range t.Partitions {
			ps = append(ps, p.Partition)
		}
		slices.Sort(ps)
		return ps, t.TopicID, nil
	}
	return nil, id, &unknownTopicError{name: name, topic: topic}
}

// Special timestamps of ListOffsets.
const (
	listEarliest int64 = -2
	listLatest   int64 = -1
)

// listOffset resolves one partition's offset for a timestamp (or listEarliest / listLatest) with read_committed
// isolation, so "latest" is the last stable offset. A timestamp after the last record resolves to the latest
// offset.
func listOffset(ctx context.Context, cl *kgo.Client, h *health, name, topic string, partition int32, ts int64, timeout time.Duration) (int64, error) {
	for {
		off, err := listOffsetOnce(ctx, cl, h, name, topic, partition, ts, timeout)
		if err != nil || off >= 0 || ts < 0 {
			return off, err
		}
		ts = listLatest // no record at or after the timestamp
	}
}

func listOffsetOnce(ctx context.Context, cl *kgo.Client, h *health, name, topic string, partition int32, ts int64, timeout time.Duration) (int64, error) {
	what := fmt.Sprintf("partition %d: list offsets", partition)
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	req.IsolationLevel = 1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition = partition
	rp.CurrentLeaderEpoch = -1
	rp.Timestamp = ts
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := request[*kmsg.ListOffsetsResponse](ctx, cl, h, name, what, timeout, req)
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return 0, fmt.Errorf("%s: %s: %w", name, what, &unknownTopicError{topic: topic})
	}
	if err != nil {
		return 0, err
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if t.Topic != topic || p.Partition != partition {
				continue
			}
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				if errors.Is(err, kerr.UnknownTopicOrPartition) {
					return 0, fmt.Errorf("%s: %s: %w", name, what, &unknownTopicError{topic: topic})
				}
				return 0, fmt.Errorf("%s: %s: %w", name, what, err)
			}
			return p.Offset, nil
		}
	}
	return 0, fmt.Errorf("%s: %s: partition missing from the response", name, what)
}

// fetchGroupOffset returns a group's committed offset for one partition, or -1 when it has none.
func fetchGroupOffset(ctx context.Context, cl *kgo.Client, h *health, name, group, topic string, partition int32, timeout time.Duration) (int64, error) {
	what := fmt.Sprintf("fetch offset of group %q for partition %d", group, partition)
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic = topic
	rt.Partitions = []int32{partition}
	req.Topics = append(req.Topics, rt)
	resp, err := request[*kmsg.OffsetFetchResponse](ctx, cl, h, name, what, timeout, req)
	if errors.Is(err, kerr.GroupIDNotFound) {
		return -1, nil // a group without commits
	}
	if err != nil {
		return 0, err
	}
	noGroup := func(err error) bool { return errors.Is(err, kerr.GroupIDNotFound) }
	if err := kerr.ErrorForCode(resp.ErrorCode); noGroup(err) {
		return -1, nil
	} else if err != nil {
		return 0, fmt.Errorf("%s: %s: %w", name, what, err)
	}
	topics := resp.Topics
	for _, g := range resp.Groups {
		if g.Group != group {
			continue
		}
		if err := kerr.ErrorForCode(g.ErrorCode); noGroup(err) {
			return -1, nil
		} else if err != nil {
			return 0, fmt.Errorf("%s: %s: %w", name, what, err)
		}
		for _, t := range g.Topics {
			ot := kmsg.NewOffsetFetchResponseTopic()
			ot.Topic = t.Topic
			for _, p := range t.Partitions {
				op := kmsg.NewOffsetFetchResponseTopicPartition()
				op.Partition, op.Offset, op.ErrorCode = p.Partition, p.Offset, p.ErrorCode
				ot.Partitions = append(ot.Partitions, op)
			}
			topics = append(topics, ot)
		}
	}
	for _, t := range topics {
		for _, p := range t.Partitions {
			if t.Topic != topic || p.Partition != partition {
				continue
			}
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return 0, fmt.Errorf("%s: %s: %w", name, what, err)
			}
			return p.Offset, nil
		}
	}
	return -1, nil
}
