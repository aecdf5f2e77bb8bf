package kafkaio_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/testsvc/kafkatest"
	"github.com/kappaflow/kappa/io/kafkaio"
	"github.com/kappaflow/kappa/pipeline"
)

type kv struct {
	K, V string
	H    string
	At   int64 // record timestamp, ms; 0: the element's event time
}

func encodeKV(v kv) (kafkaio.Message, error) {
	m := kafkaio.Message{Key: []byte(v.K), Value: []byte(v.V)}
	if v.H != "" {
		m.Headers = []kafkaio.Header{{Key: "h", Value: []byte(v.H)}, {Key: "empty"}}
	}
	if v.At != 0 {
		m.Time = time.UnixMilli(v.At)
	}
	return m, nil
}

func openWriter[T any](t *testing.T, cfg kafkaio.WriteConfig[T], shard int) pipeline.SinkWriter[T] {
	t.Helper()
	sink, err := kafkaio.NewSink(cfg)
	require.NoError(t, err)
	w, err := sink.Open(ctxT(t), pipeline.Shard{Index: shard, Count: shard + 1})
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close(context.Background()) })
	return w
}

// readWithKafkaGo reads n records of a topic partition with segmentio/kafka-go, an independent client.
func readWithKafkaGo(t *testing.T, brokers []string, topic string, partition, n int) []kafka.Message {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: partition, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []kafka.Message
	for len(out) < n {
		m, err := r.ReadMessage(ctx)
		require.NoError(t, err, "read %d of %d with kafka-go", len(out), n)
		out = append(out, m)
	}
	return out
}

func TestSinkRoundTripsKeysHeadersTimestampsWithEveryCodec(t *testing.T) {
	c := kafkatest.Start(t)
	const parts = 4
	elems := []pipeline.Element[kv]{
		{Value: kv{K: "alice", V: "1", H: "x"}, Time: 1000},
		{Value: kv{K: "bob", V: "2", At: 5555}, Time: 2000},
		{Value: kv{K: "alice", V: "3"}, Time: 3000},
		{Value: kv{K: "carol", V: "4", H: "y", At: 7777}, Time: pipeline.MinTime},
		{Value: kv{K: "dave", V: "5"}, Time: 4000},
	}
	wantTime := []int64{1000, 5555, 3000, 7777, 4000}
	for _, codec := range []kafkaio.Compression{"", kafkaio.NoCompression, kafkaio.Gzip, kafkaio.Snappy, kafkaio.LZ4, kafkaio.Zstd} {
		t.Run(string(codec), func(t *testing.T) {
			topic := "rt-" + string(codec)
			c.CreateTopic(t, topic, parts)
			w := openWriter(t, kafkaio.WriteConfig[kv]{Brokers: c.Brokers, Topic: topic, Encode: encodeKV, Compression: codec}, 0)
			require.NoError(t, w.Write(ctxT(t), elems))
			tok, err := w.Prepare(ctxT(t), pipeline.Epoch{ID: 1})
			require.NoError(t, err)
			require.Nil(t, tok, "at-least-once tokens are empty")
			require.NoError(t, w.Commit(ctxT(t), tok))

			// Read back with kafka-go, partition by partition, and check that hashing by key matches kafka-go's
			// Java-compatible murmur2 balancer.
			got := map[string]kafka.Message{}
			for p, n := range c.EndOffsets(t, topic, true) {
				for _, m := range readWithKafkaGo(t, c.Brokers, topic, int(p), int(n)) {
					got[string(m.Value)] = m
				}
			}
			require.Len(t, got, len(elems))
			for i, e := range elems {
				m := got[e.Value.V]
				require.Equal(t, e.Value.K, string(m.Key))
				require.Equal(t, wantTime[i], m.Time.UnixMilli(), "record %d timestamp", i)
				if e.Value.H != "" {
					require.Equal(t, []kafka.Header{{Key: "h", Value: []byte(e.Value.H)}, {Key: "empty"}}, m.Headers, "a nil header value stays nil")
				} else {
					require.Empty(t, m.Headers)
				}
				want := (&kafka.Murmur2Balancer{}).Balance(kafka.Message{Key: m.Key}, 0, 1, 2, 3)
				require.Equal(t, want, m.Partition, "key %s", m.Key)
			}
		})
	}
}

func TestSinkPartitioning(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("rr", 3), kafkatest.Topic("manual", 3), kafkatest.Topic("json", 1))
	var elems []pipeline.Element[kafkaio.Message]
	for i := range 9 {
		elems = append(elems, pipeline.Element[kafkaio.Message]{Value: kafkaio.Message{Key: []byte("same"), Value: []byte(fmt.Sprint(i)), Partition: 2}, Time: 1})
	}
	w := openWriter(t, kafkaio.WriteConfig[kafkaio.Message]{Brokers: c.Brokers, Topic: "rr", Partitioning: kafkaio.RoundRobin}, 0)
	require.NoError(t, w.Write(ctxT(t), elems))
	_, err := w.Prepare(ctxT(t), pipeline.Epoch{ID: 1})
	require.NoError(t, err)
	require.Equal(t, map[int32]int64{0: 3, 1: 3, 2: 3}, c.EndOffsets(t, "rr", true), "round robin ignores the key")

	w = openWriter(t, kafkaio.WriteConfig[kafkaio.Message]{Brokers: c.Brokers, Topic: "manual", Partitioning: kafkaio.Manual}, 0)
	require.NoError(t, w.Write(ctxT(t), elems))
	_, err = w.Prepare(ctxT(t), pipeline.Epoch{ID: 1})
	require.NoError(t, err)
	require.Equal(t, map[int32]int64{0: 0, 1: 0, 2: 9}, c.EndOffsets(t, "manual", true), "manual uses Message.Partition")

	type ev struct {
		N int `json:"n"`
	}
	wj := openWriter(t, kafkaio.WriteConfig[ev]{Brokers: c.Brokers, Topic: "json"}, 0)
	require.NoError(t, wj.Write(ctxT(t), []pipeline.Element[ev]{{Value: ev{7}, Time: 3}}))
	_, err = wj.Prepare(ctxT(t), pipeline.Epoch{ID: 1})
	require.NoError(t, err)
	got := c.ReadAll(t, "json")
	require.Len(t, got, 1)
	require.Equal(t, `{"n":7}`, string(got[0].Value), "JSON is the default encoder")
	require.Nil(t, got[0].Key)
	require.Equal(t, int64(3), got[0].Time.UnixMilli())
}

func TestSinkEncodeErrorStopsTheWrite(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("t", 1))
	w := openWriter(t, kafkaio.WriteConfig[int]{Brokers: c.Brokers, Topic: "t", Encode: func(n int) (kafkaio.Message, error) {
		if n == 2 {
			return kafkaio.Message{}, fmt.Errorf("odd value %d", n)
		}
		return kafkaio.Message{Value: []byte(fmt.Sprint(n))}, nil
	}}, 3)
	err := w.Write(ctxT(t), []pipeline.Element[int]{{Value: 1, Time: 10}, {Value: 2, Time: 60000}})
	require.EqualError(t, err, "kafka://"+c.Addr()+"/t: shard 3: encode element with event time 1970-01-01T00:01:00.000Z: odd value 2")
}
