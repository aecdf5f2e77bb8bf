package kafkaio_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/testsvc/kafkatest"
	"github.com/kappaflow/kappa/io/kafkaio"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
)

type urlInfo struct {
	Category string `json:"category"`
}

// A real compacted topic (kfake, cleanup.policy=compact, Compact run before the read) is read as a changelog:
// keys are kept, tombstones become deletions, and a stream joined with it sees the version valid at each
// record's time.
func TestChangelogOfCompactedTopicJoinsStream(t *testing.T) {
	c := kafkatest.Start(t)
	require.NoError(t, c.Fake().CreateTopic("urls", 1, map[string]string{"cleanup.policy": "compact"}))
	base := time.Now().Truncate(time.Hour).UnixMilli() // recent: kfake's retention would drop 1970 records
	at := func(ms int64) time.Time { return time.UnixMilli(base + ms) }
	c.Produce(t, "urls",
		kafkatest.Record{Key: []byte("/a"), Value: []byte(`{"category":"old"}`), Time: at(1000)},
		kafkatest.Record{Key: []byte("/b"), Value: []byte(`{"category":"news"}`), Time: at(1100)},
		kafkatest.Record{Key: []byte("/a"), Value: []byte(`{"category":"shop"}`), Time: at(2000)},
		kafkatest.Record{Key: []byte("/c"), Value: []byte(`{"category":"gone"}`), Time: at(2100)},
		kafkatest.Record{Key: []byte("/c"), Value: nil, Time: at(3000)},
	)
	c.Fake().Compact()

	p := pipeline.New()
	s := p.Root()
	changes, dead := kafkaio.ReadWithDeadLetters(s, kafkaio.ReadConfig[kafkaio.Change[urlInfo]]{
		Brokers: c.Brokers, Topic: "urls", Bounded: true, Decode: kafkaio.DecodeChange[urlInfo](nil),
		EventTime: func(m kafkaio.Message, _ kafkaio.Change[urlInfo]) time.Time { return m.Time }})
	table := transforms.Map(s, changes, func(ch kafkaio.Change[urlInfo]) transforms.KV[string, transforms.Change[string]] {
		return transforms.KV[string, transforms.Change[string]]{Key: string(ch.Key),
			Value: transforms.Change[string]{Value: ch.Value.Category, Delete: ch.Deleted}}
	})
	views := pipeline.Read(s, pipelinetest.Source([]pipelinetest.Timed[transforms.KV[string, int]]{
		pipelinetest.AtMillis(transforms.KV[string, int]{Key: "/a", Value: 1}, base+2500),
		pipelinetest.AtMillis(transforms.KV[string, int]{Key: "/b", Value: 2}, base+2600),
		pipelinetest.AtMillis(transforms.KV[string, int]{Key: "/c", Value: 3}, base+3500),
		pipelinetest.AtMillis(transforms.KV[string, int]{Key: "/d", Value: 4}, base+3600),
	}, 1), pipeline.ReadName("views"))
	joined := transforms.LeftTableJoin(s, views, table)
	out := transforms.Map(s, joined, func(kv transforms.KV[string, transforms.TableJoined[int, string]]) string {
		return fmt.Sprintf("%s %d %s %v", kv.Key, kv.Value.Value, kv.Value.Table, kv.Value.Found)
	})
	res := pipelinetest.Collect(s, out)
	deadRes := pipelinetest.Collect(s, transforms.Map(s, dead, func(re *pipeline.RecordError) string { return re.Error() }))
	read := pipelinetest.Collect(s, changes)
	pipelinetest.Run(t, p, local.Config{Workers: 2, Logger: quiet})
	got := res.Values()
	slices.Sort(got)
	require.Equal(t, []string{"/a 1 shop true", "/b 2 news true", "/c 3  false", "/d 4  false"}, got)
	require.Empty(t, deadRes.Values())
	require.LessOrEqual(t, len(read.Values()), 5) // like Kafka, kfake does not compact the active segment
}

// DecodeChange: a null value is a tombstone, a record without a key or with an undecodable value is an error
// naming topic, partition and offset.
func TestDecodeChange(t *testing.T) {
	dec := kafkaio.DecodeChange[urlInfo](nil)
	ch, err := dec(kafkaio.Message{Topic: "urls", Key: []byte("/a"), Value: []byte(`{"category":"x"}`)})
	require.NoError(t, err)
	require.Equal(t, kafkaio.Change[urlInfo]{Key: []byte("/a"), Value: urlInfo{Category: "x"}}, ch)
	ch, err = dec(kafkaio.Message{Topic: "urls", Key: []byte("/a")})
	require.NoError(t, err)
	require.True(t, ch.Deleted)
	_, err = dec(kafkaio.Message{Topic: "urls", Partition: 2, Offset: 7, Value: []byte(`{}`)})
	require.ErrorIs(t, err, kafkaio.ErrNoKey)
	require.ErrorContains(t, err, "urls/2@7")
	_, err = dec(kafkaio.Message{Topic: "urls", Partition: 1, Offset: 9, Key: []byte("/b"), Value: []byte(`{`)})
	require.ErrorContains(t, err, "urls/1@9")
}
