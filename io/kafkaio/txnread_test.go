package kafkaio_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/testsvc/kafkatest"
	"github.com/kappaflow/kappa/io/kafkaio"
	"github.com/kappaflow/kappa/pipeline"
)

// TestSourceReadsOnlyCommittedTransactionalData writes committed and aborted transactions interleaved with plain
// records (and with each other) and checks that the source returns exactly the committed data, never a
// transaction marker or an aborted record, with positions that resume correctly from every offset of the log.
func TestSourceReadsOnlyCommittedTransactionalData(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("t", 1))
	a, b := c.Txn(t, "producer-a"), c.Txn(t, "producer-b")
	r := func(v string) kafkatest.Record { return rec(0, v, 1) }

	c.Produce(t, "t", r("plain-1"))
	a.Begin(t)
	a.Produce(t, "t", r("a-commit-1"), r("a-commit-2"))
	b.Begin(t)
	b.Produce(t, "t", r("b-abort-1"))
	c.Produce(t, "t", r("plain-2")) // between open transactions
	a.Produce(t, "t", r("a-commit-3"))
	b.Produce(t, "t", r("b-abort-2"), r("b-abort-3"))
	a.End(t, true)
	b.End(t, false)
	b.Begin(t)
	b.Produce(t, "t", r("b-commit-1"))
	b.End(t, true)
	a.Begin(t)
	a.Produce(t, "t", r("a-abort-1"))
	a.End(t, false) // the log ends with an abort marker

	want := []string{"plain-1", "a-commit-1", "a-commit-2", "plain-2", "a-commit-3", "b-commit-1"}
	// The setup really holds aborted records and markers: without them this test could not fail.
	log := c.ReadLog(t, "t")
	var markers, aborted int
	for _, l := range log {
		switch {
		case l.Control:
			markers++
		case len(l.Value) > 2 && string(l.Value[2:7]) == "abort":
			aborted++
		}
	}
	require.Equal(t, 4, markers, "commit/abort markers in the log")
	require.Equal(t, 4, aborted, "aborted records in the log")
	require.Len(t, log, 14)
	require.Equal(t, want, values(c.ReadAll(t, "t")), "an independent read_committed consumer agrees")
	end := int64(len(log))

	src := newSource(t, kafkaio.ReadConfig[string]{Brokers: c.Brokers, Topic: "t"})
	for _, maxRecords := range []int{1, 2, 1000} {
		got := drain(t, src, "0", nil, len(want), pipeline.Limits{MaxRecords: maxRecords})
		require.Equal(t, want, got.values, "MaxRecords %d", maxRecords)
	}

	// Resume from every offset of the log, markers and aborted records included.
	for from := int64(0); from <= end; from++ {
		var rest []string
		for _, l := range log {
			if l.Offset >= from && !l.Control && string(l.Value[2:7]) != "abort" {
				rest = append(rest, string(l.Value))
			}
		}
		got := drain(t, src, "0", kafkaio.EncodePosition(from), len(rest), pipeline.Limits{MaxRecords: 1})
		require.Equal(t, rest, got.values, "from offset %d", from)
		if len(rest) > 0 {
			require.Less(t, offsetOf(t, got.pos), end+1)
		}
	}

	// After everything, the position is past the final abort marker: the end of the log.
	rd, err := src.Open(ctxT(t), pipeline.Split{ID: "0"}, nil)
	require.NoError(t, err)
	defer rd.Close()
	drainReader(t, rd, len(want), pipeline.Limits{})
	var bt pipeline.Batch[string]
	require.Eventually(t, func() bool {
		bt.Reset()
		require.NoError(t, rd.ReadBatch(ctxT(t), &bt, pipeline.Limits{MaxRecords: 10, MaxWait: 20e6}))
		require.Zero(t, bt.Len())
		return offsetOf(t, rd.Position()) == end
	}, 10e9, 1e6, "the position moves past trailing markers and aborted records")

	// A transaction still open holds back later records (read_committed stops at the last stable offset) until it
	// commits.
	a.Begin(t)
	a.Produce(t, "t", r("a-late"))
	c.Produce(t, "t", r("plain-after-open-txn"))
	bt.Reset()
	require.NoError(t, rd.ReadBatch(ctxT(t), &bt, pipeline.Limits{MaxRecords: 10, MaxWait: 300e6}))
	require.Empty(t, bt.Values, "nothing past an open transaction")
	a.End(t, true)
	got := drainReader(t, rd, 2, pipeline.Limits{})
	require.Equal(t, []string{"a-late", "plain-after-open-txn"}, got.values)
}
