package kafkaio_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/kappaflow/kappa/internal/testsvc/kafkatest"
	"github.com/kappaflow/kappa/io/kafkaio"
	"github.com/kappaflow/kappa/pipeline"
)

func eosConfig(c *kafkatest.Cluster, topic string) kafkaio.WriteConfig[string] {
	return kafkaio.WriteConfig[string]{Brokers: c.Brokers, Topic: topic, ExactlyOnce: true, TransactionalID: "job-" + topic, Logger: quiet}
}

func elems(vs ...string) []pipeline.Element[string] {
	out := make([]pipeline.Element[string], len(vs))
	for i, v := range vs {
		out[i] = pipeline.Element[string]{Value: v, Time: pipeline.Time(1000 + i)}
	}
	return out
}

// epochValues is the values of n records of epoch e.
func epochValues(e, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("e%d-%d", e, i)
	}
	return out
}

func TestExactlyOnceSinkCommitsOnlyAtCommit(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("out", 2))
	w := openWriter(t, eosConfig(c, "out"), 0)
	ctx := ctxT(t)

	require.NoError(t, w.Write(ctx, elems(epochValues(1, 10)...)))
	tok1, err := w.Prepare(ctx, pipeline.Epoch{ID: 1})
	require.NoError(t, err)
	require.NotEmpty(t, tok1)
	require.Len(t, c.ReadLog(t, "out"), 10, "the records are in the log")
	require.Empty(t, c.ReadAll(t, "out"), "but read_committed consumers do not see them before Commit")

	// Epoch 2 is written (on another transactional ID) while epoch 1 awaits its Commit.
	require.NoError(t, w.Write(ctx, elems(epochValues(2, 5)...)))
	require.NoError(t, w.Commit(ctx, tok1))
	require.ElementsMatch(t, epochValues(1, 10), values(c.ReadAll(t, "out")))
	require.NoError(t, w.Commit(ctx, tok1), "Commit is idempotent")

	tok2, err := w.Prepare(ctx, pipeline.Epoch{ID: 2})
	require.NoError(t, err)
	// Epoch 3 is prepared before epoch 2 is committed: its token carries both transactions.
	require.NoError(t, w.Write(ctx, elems(epochValues(3, 5)...)))
	tok3, err := w.Prepare(ctx, pipeline.Epoch{ID: 3})
	require.NoError(t, err)
	require.Greater(t, len(tok3), len(tok2))
	require.NoError(t, w.Commit(ctx, tok3))
	require.NoError(t, w.Commit(ctx, tok2), "an older token after a newer one is a no-op")
	want := append(append(epochValues(1, 10), epochValues(2, 5)...), epochValues(3, 5)...)
	require.ElementsMatch(t, want, values(c.ReadAll(t, "out")))

	// An epoch without records prepares no transaction.
	tok4, err := w.Prepare(ctx, pipeline.Epoch{ID: 4})
	require.NoError(t, err)
	require.Nil(t, tok4)
	require.NoError(t, w.Commit(ctx, tok4))
	require.Len(t, c.ReadAll(t, "out"), len(want))
	require.Equal(t, map[int32]int64{0: 3}, c.GroupOffsets(t, "job-out-0", "out"), "the marker group holds the last committed epoch")
}

// crash abandons a writer the way a killed process does: its clients go away, no transaction is committed or
// aborted.
func crash(t *testing.T, w pipeline.SinkWriter[string]) {
	t.Helper()
	kafkaio.Crash(w)
}

func TestExactlyOnceSinkRecovery(t *testing.T) {
	tests := []struct {
		name string
		// run performs the steps of the first process and returns the token of its last durable checkpoint.
		run func(t *testing.T, w pipeline.SinkWriter[string]) []byte
		// want is what the topic holds from the first process.
		want []string
		// aborted are records of the first process that are in the log but must not be visible.
		aborted []string
	}{
		{
			name: "crash between durable checkpoint and Commit",
			run: func(t *testing.T, w pipeline.SinkWriter[string]) []byte {
				require.NoError(t, w.Write(ctxT(t), elems(epochValues(1, 4)...)))
				tok, err := w.Prepare(ctxT(t), pipeline.Epoch{ID: 1})
				require.NoError(t, err)
				return tok // checkpoint 1 durable; crash before Commit
			},
			want: epochValues(1, 4),
		},
		{
			name: "crash after Commit",
			run: func(t *testing.T, w pipeline.SinkWriter[string]) []byte {
				require.NoError(t, w.Write(ctxT(t), elems(epochValues(1, 4)...)))
				tok, err := w.Prepare(ctxT(t), pipeline.Epoch{ID: 1})
				require.NoError(t, err)
				require.NoError(t, w.Commit(ctxT(t), tok))
				return tok // the restart commits it again
			},
			want: epochValues(1, 4),
		},
		{
			name: "crash after Commit and reuse of the transactional ID",
			run: func(t *testing.T, w pipeline.SinkWriter[string]) []byte {
				require.NoError(t, w.Write(ctxT(t), elems(epochValues(1, 4)...)))
				tok, err := w.Prepare(ctxT(t), pipeline.Epoch{ID: 1})
				require.NoError(t, err)
				require.NoError(t, w.Commit(ctxT(t), tok))
				// Epoch 2 reuses slot 0 and is prepared, but its checkpoint never becomes durable.
				require.NoError(t, w.Write(ctxT(t), elems("lost-1", "lost-2")))
				_, err = w.Prepare(ctxT(t), pipeline.Epoch{ID: 2})
				require.NoError(t, err)
				return tok
			},
			want:    epochValues(1, 4),
			aborted: []string{"lost-1", "lost-2"},
		},
		{
			name: "crash before the checkpoint of a prepared epoch",
			run: func(t *testing.T, w pipeline.SinkWriter[string]) []byte {
				require.NoError(t, w.Write(ctxT(t), elems(epochValues(1, 4)...)))
				tok, err := w.Prepare(ctxT(t), pipeline.Epoch{ID: 1})
				require.NoError(t, err)
				require.NoError(t, w.Write(ctxT(t), elems("lost-1", "lost-2")))
				_, err = w.Prepare(ctxT(t), pipeline.Epoch{ID: 2}) // checkpoint 2 never becomes durable
				require.NoError(t, err)
				return tok
			},
			want:    epochValues(1, 4),
			aborted: []string{"lost-1", "lost-2"},
		},
		{
			name: "crash while an epoch is being written",
			run: func(t *testing.T, w pipeline.SinkWriter[string]) []byte {
				require.NoError(t, w.Write(ctxT(t), elems(epochValues(1, 4)...)))
				tok, err := w.Prepare(ctxT(t), pipeline.Epoch{ID: 1})
				require.NoError(t, err)
				require.NoError(t, w.Commit(ctxT(t), tok))
				require.NoError(t, w.Write(ctxT(t), elems("lost-1", "lost-2")))
				return tok
			},
			want: epochValues(1, 4),
		},
		{
			name: "fresh start",
			run:  func(t *testing.T, w pipeline.SinkWriter[string]) []byte { return nil },
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := kafkatest.Start(t, kafkatest.Topic("out", 1))
			cfg := eosConfig(c, "out")
			sink, err := kafkaio.NewSink(cfg)
			require.NoError(t, err)
			w1, err := sink.Open(ctxT(t), pipeline.Shard{Index: 0, Count: 1})
			require.NoError(t, err)
			tok := tt.run(t, w1)
			crash(t, w1)

			// The restarted process: commit the restored token, then replay the epochs after it.
			sink2, err := kafkaio.NewSink(cfg)
			require.NoError(t, err)
			w2, err := sink2.Open(ctxT(t), pipeline.Shard{Index: 0, Count: 1})
			require.NoError(t, err)
			defer w2.Close(context.Background())
			require.NoError(t, w2.Commit(ctxT(t), tok))
			require.NoError(t, w2.Commit(ctxT(t), tok), "again: idempotent")
			replay := fmt.Sprintf("replay-%d", i)
			require.NoError(t, w2.Write(ctxT(t), elems(replay)))
			tok2, err := w2.Prepare(ctxT(t), pipeline.Epoch{ID: 2})
			require.NoError(t, err)
			require.NoError(t, w2.Commit(ctxT(t), tok2))

			// ReadAll reads up to the last stable offset: it returns only because no transaction of the first
			// process is left open.
			require.Equal(t, c.EndOffsets(t, "out", false), c.EndOffsets(t, "out", true), "no transaction left open")
			require.Equal(t, append(tt.want, replay), values(c.ReadAll(t, "out")))
			inLog := values(c.ReadLog(t, "out"))
			for _, v := range tt.aborted {
				require.Contains(t, inLog, v, "the scenario wrote %s to the log", v)
			}
		})
	}
}

func TestExactlyOnceSinkReportsALostTransaction(t *testing.T) {
	t.Parallel() // waits for the transaction timeout
	c := kafkatest.Start(t, kafkatest.Topic("out", 1))
	cfg := eosConfig(c, "out")
	cfg.TransactionTimeout = 500 * time.Millisecond
	w := openWriter(t, cfg, 0)
	require.NoError(t, w.Write(ctxT(t), elems("a", "b")))
	tok, err := w.Prepare(ctxT(t), pipeline.Epoch{ID: 7})
	require.NoError(t, err)
	crash(t, w)
	time.Sleep(time.Second) // the broker aborts the transaction after its timeout
	c.Produce(t, "out", kafkatest.Record{Value: []byte("poke")})

	w2 := openWriter(t, cfg, 0)
	err = w2.Commit(ctxT(t), tok)
	require.ErrorIs(t, err, kafkaio.ErrTransactionLost)
	pid, pepoch := tokenProducer(t, tok)
	require.EqualError(t, err, "kafka://"+c.Addr()+"/out: shard 0: commit transaction job-out-0-0 of epoch 7 (producer "+
		fmt.Sprintf("%d epoch %d", pid, pepoch)+") from the checkpoint: kafkaio: prepared transaction lost: the broker refused with "+
		"INVALID_TXN_STATE: The producer attempted a transactional operation in an invalid state.; the epoch's records were aborted "+
		"(down longer than TransactionTimeout 500ms, or the transactional ID was reused before this Commit)")
	require.Equal(t, []string{"poke"}, values(c.ReadAll(t, "out")))
}

func TestExactlyOnceSinkShards(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("out", 3))
	cfg := eosConfig(c, "out")
	sink, err := kafkaio.NewSink(cfg)
	require.NoError(t, err)
	var ws []pipeline.SinkWriter[string]
	var toks [][]byte
	for shard := range 3 {
		w, err := sink.Open(ctxT(t), pipeline.Shard{Index: shard, Count: 3})
		require.NoError(t, err)
		defer w.Close(context.Background())
		require.NoError(t, w.Write(ctxT(t), elems(fmt.Sprintf("shard-%d", shard))))
		tok, err := w.Prepare(ctxT(t), pipeline.Epoch{ID: 1})
		require.NoError(t, err)
		ws, toks = append(ws, w), append(toks, tok)
	}
	// A fourth shard from an earlier, larger run left a transaction open: shard 0's sweep aborts it.
	stale := c.Txn(t, "job-out-3-0")
	stale.Begin(t)
	stale.Produce(t, "out", kafkatest.Record{Value: []byte("stale")})
	for i, w := range ws {
		require.NoError(t, w.Commit(ctxT(t), toks[i]))
	}
	w0, err := sink.Open(ctxT(t), pipeline.Shard{Index: 0, Count: 3})
	require.NoError(t, err)
	defer w0.Close(context.Background())
	require.NoError(t, w0.Write(ctxT(t), elems("again")))
	tok, err := w0.Prepare(ctxT(t), pipeline.Epoch{ID: 2})
	require.NoError(t, err)
	require.NoError(t, w0.Commit(ctxT(t), tok))
	require.ElementsMatch(t, []string{"shard-0", "shard-1", "shard-2", "again"}, values(c.ReadAll(t, "out")))
	for shard, epoch := range []int64{2, 1, 1} {
		require.Equal(t, map[int32]int64{0: epoch}, c.GroupOffsets(t, fmt.Sprintf("job-out-%d", shard), "out"), "marker of shard %d", shard)
	}
}

// tokenProducer extracts the producer ID and epoch of the first transaction of a token (layout: version, count,
// ID length, ID, varint producer ID, uvarint producer epoch, ...).
func tokenProducer(t *testing.T, tok []byte) (int64, int64) {
	t.Helper()
	require.Equal(t, byte(1), tok[0])
	rest := tok[3+int(tok[2]):]
	pid, n := binary.Varint(rest)
	require.Positive(t, n)
	pepoch, m := binary.Uvarint(rest[n:])
	require.Positive(t, m)
	return pid, int64(pepoch)
}

func TestExactlyOnceSinkFencesAZombie(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("out", 1))
	cfg := eosConfig(c, "out")
	old := openWriter(t, cfg, 0)
	require.NoError(t, old.Write(ctxT(t), elems("e1")))
	tok, err := old.Prepare(ctxT(t), pipeline.Epoch{ID: 1})
	require.NoError(t, err)
	require.NoError(t, old.Commit(ctxT(t), tok))
	require.NoError(t, old.Write(ctxT(t), elems("zombie"))) // still running, partitioned away

	// A new process takes over the shard from the last checkpoint.
	w := openWriter(t, cfg, 0)
	require.NoError(t, w.Commit(ctxT(t), tok))
	require.NoError(t, w.Write(ctxT(t), elems("e2")))
	tok2, err := w.Prepare(ctxT(t), pipeline.Epoch{ID: 2})
	require.NoError(t, err)
	require.NoError(t, w.Commit(ctxT(t), tok2))

	_, err = old.Prepare(ctxT(t), pipeline.Epoch{ID: 2})
	// Fenced either way: the broker answers PRODUCER_FENCED or INVALID_PRODUCER_EPOCH depending on whether the
	// zombie's produce request or its transaction end reaches it first.
	require.True(t, errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch),
		"the zombie is fenced, got %v", err)
	require.Equal(t, []string{"e1", "e2"}, values(c.ReadAll(t, "out")))
}
