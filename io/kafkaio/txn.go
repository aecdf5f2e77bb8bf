package kafkaio

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ErrTransactionLost is matched (errors.Is) by the error Commit returns when a prepared transaction can no
// longer be committed (the broker aborted it, typically after TransactionTimeout): that epoch's records are not
// in the topic.
var ErrTransactionLost = errors.New("kafkaio: prepared transaction lost")

// The exactly-once writer.
//
// Each writer (shard) owns transactional IDs "<prefix>-<shard>-<slot>". An epoch's records go into one Kafka
// transaction on a free slot; Prepare flushes them and, in the same transaction, commits offset = epoch ID to the
// marker group "<prefix>-<shard>" (partition 0 of the sink's topic), then returns a token naming every prepared
// transaction not yet committed (transactional ID, producer ID and epoch, pipeline epoch). Commit ends those
// transactions in epoch order. A restarted process commits them from the token alone (EndTxn with the recorded
// producer ID and epoch); the marker group tells whether an earlier attempt already did. Before its first
// transaction, a writer initializes its free transactional IDs (InitProducerID): that aborts the transactions a
// crashed run left open, so read_committed consumers are not blocked until the transaction timeout, and fences
// a zombie process still using them. docs/kafka.md states the resulting guarantee.

type txnWriter[T any] struct {
	sink  *Sink[T]
	name  string
	shard pipeline.Shard

	admin   *kgo.Client // raw requests: sweep, markers, commits from a token
	h       *health
	topicID [16]byte // of the sink's topic, for the marker commit (TxnOffsetCommit v6+ names topics by ID)

	slots   []*txnSlot
	cur     *txn   // open transaction receiving writes
	pending []*txn // prepared, not committed, oldest first
	swept   bool

	committedThrough uint64 // highest epoch this writer committed (in process)
	anyCommitted     bool
	recs             []*kgo.Record
	closed           bool
}

type txnSlot struct {
	k    int
	id   string
	p    *producer // nil until the slot is first used
	busy bool
}

type txn struct {
	slot   *txnSlot
	pid    int64
	pepoch int16
	epoch  uint64
}

func openTxnWriter[T any](ctx context.Context, s *Sink[T], shard pipeline.Shard) (*txnWriter[T], error) {
	h := newHealth(s.name, s.cfg.Logger)
	admin, err := kgo.NewClient(baseOpts(s.cfg.Brokers, s.cfg.ClientID, s.cfg.Timeout, s.cfg.Logger, h)...)
	if err != nil {
		return nil, fmt.Errorf("%s: shard %d: %w", s.name, shard.Index, err)
	}
	_, topicID, err := topicMetadata(ctx, admin, h, s.name, s.cfg.Topic, s.cfg.Timeout)
	if err != nil {
		closeClient(admin, h)
		return nil, err
	}
	w := &txnWriter[T]{sink: s, name: s.name, shard: shard, admin: admin, h: h, topicID: topicID}
	for k := range s.cfg.MaxPendingTransactions {
		w.slots = append(w.slots, &txnSlot{k: k, id: w.txnID(shard.Index, k)})
	}
	return w, nil
}

func (w *txnWriter[T]) txnID(shard, slot int) string {
	return w.sink.cfg.TransactionalID + "-" + strconv.Itoa(shard) + "-" + strconv.Itoa(slot)
}

// markerGroup is "<prefix>-<shard>" for a transactional ID "<prefix>-<shard>-<slot>".
func markerGroup(txnID string) string {
	if i := strings.LastIndexByte(txnID, '-'); i > 0 {
		return txnID[:i]
	}
	return txnID
}

// Write produces the elements in the epoch's transaction, beginning it on a free slot if needed.
func (w *txnWriter[T]) Write(ctx context.Context, elems []pipeline.Element[T]) error {
	if len(elems) == 0 {
		return nil
	}
	if w.cur == nil {
		if err := w.begin(ctx); err != nil {
			return err
		}
	}
	w.recs = w.recs[:0]
	for i := range elems {
		r, err := record(&w.sink.cfg, w.name, w.shard.Index, &elems[i])
		if err != nil {
			return err
		}
		w.recs = append(w.recs, r)
	}
	err := w.cur.slot.p.produce(ctx, w.recs)
	clear(w.recs)
	if err != nil {
		return fmt.Errorf("%s: shard %d: write: %w", w.name, w.shard.Index, err)
	}
	return nil
}

func (w *txnWriter[T]) begin(ctx context.Context) error {
	if !w.swept {
		if err := w.sweep(ctx); err != nil {
			return err
		}
		w.swept = true
	}
	var s *txnSlot
	for _, c := range w.slots {
		if !c.busy {
			s = c
			break
		}
	}
	if s == nil {
		return fmt.Errorf("%s: shard %d: %d prepared transactions await Commit; no transactional ID is free (raise MaxPendingTransactions, or commit sooner)",
			w.name, w.shard.Index, len(w.pending))
	}
	if s.p == nil {
		cfg := &w.sink.cfg
		h := newHealth(w.name, cfg.Logger)
		opts := append(producerOpts(cfg, h), kgo.TransactionalID(s.id), kgo.TransactionTimeout(cfg.TransactionTimeout))
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			return fmt.Errorf("%s: shard %d: transactional ID %s: %w", w.name, w.shard.Index, s.id, err)
		}
		s.p = newProducer(w.name, cl, h, cfg.Timeout)
	}
	s.p.reset()
	if err := s.p.cl.BeginTransaction(); err != nil {
		return fmt.Errorf("%s: shard %d: begin transaction %s: %w", w.name, w.shard.Index, s.id, err)
	}
	s.busy = true
	w.cur = &txn{slot: s}
	return nil
}

// Prepare flushes the epoch's transaction, records the epoch in its marker group and returns a token naming
// every prepared transaction that Commit has not committed yet. The transactions stay open: read_committed
// consumers see nothing of them until Commit.
func (w *txnWriter[T]) Prepare(ctx context.Context, epoch pipeline.Epoch) ([]byte, error) {
	if t := w.cur; t != nil {
		if err := w.prepare(ctx, t, epoch.ID); err != nil {
			w.abort(ctx, t)
			w.cur = nil
			return nil, err
		}
		w.cur = nil
		w.pending = append(w.pending, t)
	}
	if len(w.pending) == 0 {
		return nil, nil
	}
	return encodeToken(w.pending), nil
}

func (w *txnWriter[T]) prepare(ctx context.Context, t *txn, epochID uint64) error {
	p, id := t.slot.p, t.slot.id
	if err := p.flush(ctx); err != nil {
		return fmt.Errorf("%s: shard %d: flush transaction %s of epoch %d: %w", w.name, w.shard.Index, id, epochID, err)
	}
	pid, pepoch, err := p.cl.ProducerID(ctx)
	if err != nil {
		return fmt.Errorf("%s: shard %d: transaction %s of epoch %d: producer ID: %w", w.name, w.shard.Index, id, epochID, err)
	}
	t.pid, t.pepoch, t.epoch = pid, pepoch, epochID
	if err := w.writeMarker(ctx, t); err != nil {
		return err
	}
	return nil
}

// writeMarker commits offset = epoch ID to the marker group inside the transaction.
func (w *txnWriter[T]) writeMarker(ctx context.Context, t *txn) error {
	cfg := &w.sink.cfg
	id, group := t.slot.id, markerGroup(t.slot.id)
	what := fmt.Sprintf("shard %d: transaction %s of epoch %d: add marker group %q", w.shard.Index, id, t.epoch, group)
	add := kmsg.NewPtrAddOffsetsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch, add.Group = id, t.pid, t.pepoch, group
	aresp, err := request[*kmsg.AddOffsetsToTxnResponse](ctx, w.admin, w.h, w.name, what, cfg.Timeout, add)
	if err != nil {
		return err
	}
	if err := kerr.ErrorForCode(aresp.ErrorCode); err != nil {
		return fmt.Errorf("%s: %s: %w", w.name, what, err)
	}
	what = fmt.Sprintf("shard %d: transaction %s of epoch %d: commit marker to group %q", w.shard.Index, id, t.epoch, group)
	com := kmsg.NewPtrTxnOffsetCommitRequest()
	com.TransactionalID, com.Group, com.ProducerID, com.ProducerEpoch = id, group, t.pid, t.pepoch
	com.Generation, com.MemberID = -1, ""
	rt := kmsg.NewTxnOffsetCommitRequestTopic()
	rt.Topic, rt.TopicID = cfg.Topic, w.topicID
	rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset, rp.LeaderEpoch = 0, int64(t.epoch), -1
	rp.Metadata = kmsg.StringPtr("kappa epoch " + strconv.FormatUint(t.epoch, 10))
	rt.Partitions = append(rt.Partitions, rp)
	com.Topics = append(com.Topics, rt)
	cresp, err := request[*kmsg.TxnOffsetCommitResponse](ctx, w.admin, w.h, w.name, what, cfg.Timeout, com)
	if err != nil {
		return err
	}
	for _, t := range cresp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return fmt.Errorf("%s: %s: %w", w.name, what, err)
			}
		}
	}
	return nil
}

// abort ends a transaction that will not be committed; failures are logged (the broker aborts it at its timeout,
// or the next run's sweep does).
func (w *txnWriter[T]) abort(ctx context.Context, t *txn) {
	cl := t.slot.p.cl
	if err := cl.AbortBufferedRecords(ctx); err != nil {
		w.sink.cfg.Logger.Warn("kafka: dropping buffered records failed", "sink", w.name, "txn", t.slot.id, "err", err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
		w.sink.cfg.Logger.Warn("kafka: aborting transaction failed; the broker aborts it after the transaction timeout",
			"sink", w.name, "txn", t.slot.id, "err", err)
	}
	t.slot.busy = false
}

// Commit commits the transactions a token names, oldest first. It is idempotent: transactions this writer already
// committed, or whose marker group shows their epoch, are skipped. Transactions prepared by an earlier process are
// committed with the producer ID and epoch the token recorded. A transaction the broker has aborted meanwhile
// yields an error matching ErrTransactionLost.
func (w *txnWriter[T]) Commit(ctx context.Context, token []byte) error {
	entries, err := decodeToken(token)
	if err != nil {
		return fmt.Errorf("%s: shard %d: %w", w.name, w.shard.Index, err)
	}
	for _, e := range entries {
		if w.anyCommitted && e.epoch <= w.committedThrough {
			continue
		}
		if i := w.pendingIndex(e); i >= 0 {
			// Commit the older pending transactions first, so marker offsets only grow.
			for range i + 1 {
				if err := w.commitOwn(ctx, w.pending[0]); err != nil {
					return err
				}
				w.pending = w.pending[1:]
			}
			continue
		}
		if err := w.commitFromToken(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

func (w *txnWriter[T]) pendingIndex(e tokenEntry) int {
	for i, t := range w.pending {
		if t.slot.id == e.txnID && t.pid == e.pid && t.pepoch == e.pepoch {
			return i
		}
	}
	return -1
}

func (w *txnWriter[T]) commitOwn(ctx context.Context, t *txn) error {
	if err := t.slot.p.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return fmt.Errorf("%s: shard %d: commit transaction %s of epoch %d: %w", w.name, w.shard.Index, t.slot.id, t.epoch, err)
	}
	t.slot.busy = false
	w.markCommitted(t.epoch)
	return nil
}

func (w *txnWriter[T]) markCommitted(epoch uint64) {
	if !w.anyCommitted || epoch > w.committedThrough {
		w.committedThrough, w.anyCommitted = epoch, true
	}
}

// commitFromToken commits a transaction prepared by an earlier process (or already committed by one).
func (w *txnWriter[T]) commitFromToken(ctx context.Context, e tokenEntry) error {
	cfg := &w.sink.cfg
	group := markerGroup(e.txnID)
	marker, err := fetchGroupOffset(ctx, w.admin, w.h, w.name, group, cfg.Topic, 0, cfg.Timeout)
	if err != nil {
		return err
	}
	if marker >= 0 && uint64(marker) >= e.epoch {
		w.markCommitted(e.epoch)
		return nil // committed before
	}
	what := fmt.Sprintf("shard %d: commit transaction %s of epoch %d (producer %d epoch %d) from the checkpoint",
		w.shard.Index, e.txnID, e.epoch, e.pid, e.pepoch)
	var endErr error
	for attempt := 0; ; attempt++ {
		end := kmsg.NewPtrEndTxnRequest()
		end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = e.txnID, e.pid, e.pepoch, true
		resp, err := request[*kmsg.EndTxnResponse](ctx, w.admin, w.h, w.name, what, cfg.Timeout, end)
		if err != nil {
			return err
		}
		endErr = kerr.ErrorForCode(resp.ErrorCode)
		if !errors.Is(endErr, kerr.ConcurrentTransactions) || attempt >= 20 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if endErr == nil {
		cfg.Logger.Info("kafka: committed a transaction prepared before a restart", "sink", w.name, "txn", e.txnID, "epoch", e.epoch)
		w.markCommitted(e.epoch)
		return nil
	}
	// The broker refused: either an earlier attempt committed it and the ID moved on (the marker says so), or
	// the transaction was aborted.
	marker, err = fetchGroupOffset(ctx, w.admin, w.h, w.name, group, cfg.Topic, 0, cfg.Timeout)
	if err != nil {
		return err
	}
	if marker >= 0 && uint64(marker) >= e.epoch {
		w.markCommitted(e.epoch)
		return nil
	}
	return fmt.Errorf("%s: %s: %w: the broker refused with %w; the epoch's records were aborted (down longer than TransactionTimeout %s, or the transactional ID was reused before this Commit)",
		w.name, what, ErrTransactionLost, endErr, cfg.TransactionTimeout)
}

// sweep initializes (InitProducerID) every free transactional ID of this shard and, for shard 0, the open ones
// of shards that no longer exist. That aborts the transactions a crashed run left open, so that read_committed
// consumers are not blocked until their timeout, and fences a zombie process still writing with these IDs. It runs
// before the writer's first transaction, after the runner has committed the restored tokens.
func (w *txnWriter[T]) sweep(ctx context.Context) error {
	var ids []string
	for _, s := range w.slots {
		if !s.busy {
			ids = append(ids, s.id)
		}
	}
	if w.shard.Index == 0 {
		stale, err := w.staleShardIDs(ctx)
		if err != nil {
			return err
		}
		ids = append(ids, stale...)
	}
	for _, id := range ids {
		if err := w.initProducerID(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

func (w *txnWriter[T]) initProducerID(ctx context.Context, id string) error {
	cfg := &w.sink.cfg
	what := fmt.Sprintf("shard %d: fence transactional ID %s", w.shard.Index, id)
	for attempt := 0; ; attempt++ {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID = kmsg.StringPtr(id)
		req.TransactionTimeoutMillis = int32(cfg.TransactionTimeout.Milliseconds())
		req.ProducerID, req.ProducerEpoch = -1, -1
		resp, err := request[*kmsg.InitProducerIDResponse](ctx, w.admin, w.h, w.name, what, cfg.Timeout, req)
		if err != nil {
			return err
		}
		err = kerr.ErrorForCode(resp.ErrorCode)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, kerr.InvalidTransactionTimeout):
			return fmt.Errorf("%s: %s: TransactionTimeout %s exceeds the broker's transaction.max.timeout.ms: %w", w.name, what, cfg.TransactionTimeout, err)
		case (errors.Is(err, kerr.ConcurrentTransactions) || errors.Is(err, kerr.CoordinatorLoadInProgress)) && attempt < 50:
			time.Sleep(100 * time.Millisecond) // the broker is still aborting the transaction
		default:
			return fmt.Errorf("%s: %s: %w", w.name, what, err)
		}
	}
}

// staleShardIDs lists the open transactional IDs of this sink whose shard index is at or above the shard count.
func (w *txnWriter[T]) staleShardIDs(ctx context.Context) ([]string, error) {
	cfg := &w.sink.cfg
	what := "list open transactions"
	req := kmsg.NewPtrListTransactionsRequest()
	req.StateFilters = []string{"Ongoing"}
	resp, err := request[*kmsg.ListTransactionsResponse](ctx, w.admin, w.h, w.name, what, cfg.Timeout, req)
	if err != nil {
		return nil, err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", w.name, what, err)
	}
	prefix := cfg.TransactionalID + "-"
	var ids []string
	for _, st := range resp.TransactionStates {
		rest, ok := strings.CutPrefix(st.TransactionalID, prefix)
		if !ok {
			continue
		}
		sh, slot, ok := strings.Cut(rest, "-")
		if !ok {
			continue
		}
		n, err1 := strconv.Atoi(sh)
		_, err2 := strconv.Atoi(slot)
		if err1 == nil && err2 == nil && n >= w.shard.Count {
			ids = append(ids, st.TransactionalID)
		}
	}
	return ids, nil
}

// Close aborts the open (unprepared) transaction and closes the clients. Prepared transactions are left to
// Commit by a restarted process, or to its sweep.
func (w *txnWriter[T]) Close(ctx context.Context) error {
	if w.closed {
		return nil
	}
	w.closed = true
	if w.cur != nil {
		w.abort(ctx, w.cur)
		w.cur = nil
	}
	if len(w.pending) > 0 {
		w.sink.cfg.Logger.Info("kafka: closing with prepared transactions not committed; a restart commits them from its checkpoint or aborts them",
			"sink", w.name, "shard", w.shard.Index, "transactions", len(w.pending))
	}
	for _, s := range w.slots {
		if s.p != nil {
			s.p.close()
		}
	}
	closeClient(w.admin, w.h)
	return nil
}

// tokenEntry is one prepared transaction in a commit token.
type tokenEntry struct {
	txnID  string
	pid    int64
	pepoch int16
	epoch  uint64
}

const tokenVersion = 1

func encodeToken(ts []*txn) []byte {
	b := []byte{tokenVersion}
	b = binary.AppendUvarint(b, uint64(len(ts)))
	for _, t := range ts {
		b = binary.AppendUvarint(b, uint64(len(t.slot.id)))
		b = append(b, t.slot.id...)
		b = binary.AppendVarint(b, t.pid)
		b = binary.AppendUvarint(b, uint64(uint16(t.pepoch)))
		b = binary.AppendUvarint(b, t.epoch)
	}
	return b
}

func decodeToken(b []byte) ([]tokenEntry, error) {
	if len(b) == 0 {
		return nil, nil
	}
	bad := func(what string) error { return fmt.Errorf("kafkaio: invalid commit token %x: %s", b, what) }
	if b[0] != tokenVersion {
		return nil, bad("not written by this version of kafkaio")
	}
	rest := b[1:]
	uv := func() (uint64, bool) {
		v, n := binary.Uvarint(rest)
		if n <= 0 {
			return 0, false
		}
		rest = rest[n:]
		return v, true
	}
	n, ok := uv()
	if !ok || n > 1<<16 {
		return nil, bad("bad count")
	}
	out := make([]tokenEntry, 0, n)
	for range n {
		l, ok := uv()
		if !ok || l > uint64(len(rest)) {
			return nil, bad("bad transactional ID")
		}
		e := tokenEntry{txnID: string(rest[:l])}
		rest = rest[l:]
		pid, m := binary.Varint(rest)
		if m <= 0 {
			return nil, bad("bad producer ID")
		}
		rest = rest[m:]
		e.pid = pid
		pe, ok1 := uv()
		ep, ok2 := uv()
		if !ok1 || !ok2 || pe > 0xffff {
			return nil, bad("bad epoch")
		}
		e.pepoch, e.epoch = int16(uint16(pe)), ep
		out = append(out, e)
	}
	if len(rest) != 0 {
		return nil, bad("trailing bytes")
	}
	return out, nil
}
