package beam_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/testsvc/kafkatest"
	"github.com/kappaflow/kappa/io/kafkaio"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/beam"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

// kafkaWindowCount is Kafka → fixed one-minute windows → count per key → collect: the shape of a streaming job.
func kafkaWindowCount(brokers []string, topic string) (*pipeline.Pipeline, *pipelinetest.Result[transforms.KV[string, int64]]) {
	p := pipeline.New()
	s := p.Root()
	keys := kafkaio.Read(s, kafkaio.ReadConfig[string]{Brokers: brokers, Topic: topic,
		Decode: func(m kafkaio.Message) (string, error) { return string(m.Key), nil }},
		pipeline.OutOfOrderness(time.Minute))
	w := windowing.Into(s, keys, windowing.Fixed{Size: time.Minute})
	return p, pipelinetest.Collect(s, transforms.Count(s, w))
}

// canonical renders elements as sorted lines of value, timestamp, window and pane: a multiset to compare.
func canonical[T any](es []pipeline.Element[T]) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = fmt.Sprintf("%v @%d %s pane=%+v", e.Value, e.Time, e.Window, e.Pane)
	}
	slices.Sort(out)
	return out
}

// TestKafkaWindowCollectStreamOnPrism reads an unbounded Kafka topic (the embedded kfake broker, 3 partitions) on
// Prism — kafkaio's source as a splittable DoFn whose restriction is the partition's offset range, checkpointed
// and resumed, with kappa's watermark estimator driving Beam's — and checks the windowed counts equal
// runners/local's on the same records.
func TestKafkaWindowCollectStreamOnPrism(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("events", 3))
	base := time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC)
	var recs []kafkatest.Record
	for i := range 600 {
		recs = append(recs, kafkatest.Record{Partition: int32(i % 3), Key: []byte(string(rune('a' + i%5))),
			Value: []byte("x"), Time: base.Add(time.Duration(i) * 500 * time.Millisecond)})
	}
	c.Produce(t, "events", recs...)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	lp, lres := kafkaWindowCount(c.Brokers, "events")
	require.NoError(t, local.New(local.Config{StopWhenIdle: 1500 * time.Millisecond}).Run(ctx, lp))
	bp, bres := kafkaWindowCount(c.Brokers, "events")
	require.NoError(t, beam.New(beam.Config{StopWhenIdle: 1500 * time.Millisecond}).Run(ctx, bp))

	want := canonical(lres.Elements())
	require.Len(t, want, 25, "5 keys × 5 one-minute windows on runners/local")
	var total int64
	for _, e := range lres.Elements() {
		total += e.Value.Value
	}
	require.EqualValues(t, 600, total)
	require.Equal(t, strings.Join(want, "\n"), strings.Join(canonical(bres.Elements()), "\n"))
}
