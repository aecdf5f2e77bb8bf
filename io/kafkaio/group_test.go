package kafkaio_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/testsvc/kafkatest"
	"github.com/kappaflow/kappa/io/kafkaio"
	"github.com/kappaflow/kappa/pipeline"
)

// TestConsumerGroupSplitsPartitionsAndCommitsOnAck runs two "processes" (two sources with one group) over a
// 4-partition topic: they split the partitions, Ack commits only owned partitions, a new owner starts at the
// committed offset, a revoked split idles, and a partition that comes back resumes after the other owner's
// progress.
func TestConsumerGroupSplitsPartitionsAndCommitsOnAck(t *testing.T) {
	if testing.Short() {
		t.Skip("group rebalances take seconds")
	}
	c := kafkatest.Start(t, kafkatest.Topic("t", 4))
	for p := range int32(4) {
		var recs []kafkatest.Record
		for i := range 10 {
			recs = append(recs, rec(p, fmt.Sprintf("p%d-%d", p, i), int64(i)))
		}
		c.Produce(t, "t", recs...)
	}
	cfg := kafkaio.ReadConfig[string]{Brokers: c.Brokers, Topic: "t", Group: "g", Logger: quiet}
	a := newSource(t, cfg)
	require.Equal(t, []string{"0", "1", "2", "3"}, splitIDs(t, a), "the only member owns every partition")
	readersA := map[string]pipeline.SplitReader[string]{}
	positions := map[string][]byte{}
	for _, id := range []string{"0", "1", "2", "3"} {
		r, err := a.Open(ctxT(t), pipeline.Split{ID: id}, nil)
		require.NoError(t, err)
		defer r.Close()
		readersA[id] = r
		got := drainReader(t, r, 3, pipeline.Limits{MaxRecords: 3})
		require.Equal(t, []string{"p" + id + "-0", "p" + id + "-1", "p" + id + "-2"}, got.values)
		positions[id] = got.pos
	}
	require.Empty(t, c.GroupOffsets(t, "g", "t"), "nothing is committed before Ack")
	require.NoError(t, a.Ack(ctxT(t), positions))
	require.Equal(t, map[int32]int64{0: 3, 1: 3, 2: 3, 3: 3}, c.GroupOffsets(t, "g", "t"))

	// A second process joins: the partitions are split between the two.
	b := newSource(t, cfg)
	idsB := splitIDs(t, b)
	var idsA []string
	require.Eventually(t, func() bool {
		idsA = splitIDs(t, a)
		return len(idsA)+len(idsB) == 4
	}, 30*time.Second, 100*time.Millisecond)
	require.Len(t, idsB, 2)
	all := append(slices.Clone(idsA), idsB...)
	slices.Sort(all)
	require.Equal(t, []string{"0", "1", "2", "3"}, all, "disjoint and complete")

	// B starts its partitions at the committed offsets.
	readersB := map[string]pipeline.SplitReader[string]{}
	for _, id := range idsB {
		r, err := b.Open(ctxT(t), pipeline.Split{ID: id}, nil)
		require.NoError(t, err)
		readersB[id] = r
		require.Equal(t, int64(3), offsetOf(t, r.Position()))
		got := drainReader(t, r, 7, pipeline.Limits{})
		require.Equal(t, fmt.Sprintf("p%s-3", id), got.values[0])
		positions[id] = got.pos // 10
	}
	// A's readers of B's partitions idle: no record although the partition has some, after about MaxWait.
	for _, id := range idsB {
		var batch pipeline.Batch[string]
		start := time.Now()
		require.NoError(t, readersA[id].ReadBatch(ctxT(t), &batch, pipeline.Limits{MaxRecords: 10, MaxWait: 100 * time.Millisecond}))
		require.Zero(t, batch.Len())
		require.Less(t, time.Since(start), time.Second)
	}
	// A acknowledges every partition: only its own are committed; B's commits its own.
	stale := map[string][]byte{}
	for _, id := range []string{"0", "1", "2", "3"} {
		stale[id] = kafkaio.EncodePosition(5)
	}
	require.NoError(t, a.Ack(ctxT(t), stale))
	want := map[int32]int64{}
	for _, id := range idsA {
		want[int32(id[0]-'0')] = 5
	}
	for _, id := range idsB {
		want[int32(id[0]-'0')] = 3
	}
	require.Equal(t, want, c.GroupOffsets(t, "g", "t"), "A's ack skips B's partitions")
	ackB := map[string][]byte{}
	for _, id := range idsB {
		ackB[id] = positions[id]
		want[int32(id[0]-'0')] = 10
	}
	require.NoError(t, b.Ack(ctxT(t), ackB))
	require.Equal(t, want, c.GroupOffsets(t, "g", "t"))

	// B leaves: A gets its partitions back and resumes them after B's progress (offset 10), not at its own 3.
	for _, r := range readersB {
		require.NoError(t, r.Close()) // the last reader closing leaves the group
	}
	require.Eventually(t, func() bool { return len(splitIDs(t, a)) == 4 }, 30*time.Second, 100*time.Millisecond)
	c.Produce(t, "t", rec(int32(idsB[0][0]-'0'), "after-rebalance", 99))
	got := drainReader(t, readersA[idsB[0]], 1, pipeline.Limits{})
	require.Equal(t, []string{"after-rebalance"}, got.values)
	require.Equal(t, int64(11), offsetOf(t, got.pos))

	// An Ack of a checkpoint taken before the partition came back does not rewind the group's offset.
	p := int32(idsB[0][0] - '0')
	require.NoError(t, a.Ack(ctxT(t), map[string][]byte{idsB[0]: kafkaio.EncodePosition(3)}))
	require.Equal(t, int64(10), c.GroupOffsets(t, "g", "t")[p])
	require.NoError(t, a.Ack(ctxT(t), map[string][]byte{idsB[0]: got.pos}))
	require.Equal(t, int64(11), c.GroupOffsets(t, "g", "t")[p])
}

func TestConsumerGroupAckWithoutMembership(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("t", 1))
	src := newSource(t, kafkaio.ReadConfig[string]{Brokers: c.Brokers, Topic: "t", Group: "g"})
	err := src.Ack(context.Background(), map[string][]byte{"0": kafkaio.EncodePosition(1)})
	require.EqualError(t, err, "kafka://"+c.Addr()+`/t: ack: not a member of group "g" (the source has not been read)`)
	explicit := newSource(t, kafkaio.ReadConfig[string]{Brokers: c.Brokers, Topic: "t"})
	require.NoError(t, explicit.Ack(context.Background(), map[string][]byte{"0": kafkaio.EncodePosition(1)}), "no-op without a group")
	require.Empty(t, c.GroupOffsets(t, "g", "t"))
}
