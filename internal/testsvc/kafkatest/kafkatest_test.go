package kafkatest_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/testsvc/kafkatest"
)

func TestClusterProducesAndReadsBack(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("t", 2), kafkatest.Brokers(2))
	require.Len(t, c.Brokers, 2)
	require.Regexp(t, `^kafka://127\.0\.0\.1:\d+,127\.0\.0\.1:\d+/t$`, c.URL("t"))
	got := c.Produce(t, "t",
		kafkatest.Record{Partition: 1, Key: []byte("k"), Value: []byte("a"), Time: time.UnixMilli(5), Headers: []kafkatest.Header{{Key: "h", Value: []byte("v")}}},
		kafkatest.Record{Partition: 1, Value: []byte("b")},
		kafkatest.Record{Partition: 0, Value: []byte("c")})
	require.Equal(t, []int64{0, 1, 0}, []int64{got[0].Offset, got[1].Offset, got[2].Offset})

	x := c.Txn(t, "tx")
	x.Begin(t)
	x.Produce(t, "t", kafkatest.Record{Partition: 0, Value: []byte("aborted")})
	x.End(t, false)
	x.Begin(t)
	x.Produce(t, "t", kafkatest.Record{Partition: 0, Value: []byte("committed")})
	x.End(t, true)

	all := c.ReadAll(t, "t")
	var vals []string
	for _, r := range all {
		vals = append(vals, string(r.Value))
	}
	require.Equal(t, []string{"c", "committed", "a", "b"}, vals, "by partition, then offset; no aborted record")
	require.Equal(t, []byte("k"), all[2].Key)
	require.Equal(t, int64(5), all[2].Time.UnixMilli())
	require.Equal(t, []kafkatest.Header{{Key: "h", Value: []byte("v")}}, all[2].Headers)

	log := c.ReadLog(t, "t")
	require.Len(t, log, 7, "c, aborted, abort marker, committed, commit marker, a, b")
	require.True(t, log[2].Control)
	require.True(t, log[1].Transactional)
	require.Equal(t, map[int32]int64{0: 5, 1: 2}, c.EndOffsets(t, "t", false))
	require.Empty(t, c.GroupOffsets(t, "nobody", "t"))

	c.CreateTopic(t, "u", 1)
	c.AddPartitions(t, "u", 3)
	require.Equal(t, map[int32]int64{0: 0, 1: 0, 2: 0}, c.EndOffsets(t, "u", true))
	require.Empty(t, c.ReadAll(t, "u"))
}
