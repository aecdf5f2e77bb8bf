package kafkaio_test

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/testsvc/kafkatest"
	"github.com/kappaflow/kappa/io/iotest"
	"github.com/kappaflow/kappa/io/kafkaio"
	"github.com/kappaflow/kappa/pipeline"
)

// TestConformance runs the shared connector conformance suite (io/iotest) on the Kafka source and sink against
// kfake: an unbounded source with the at-least-once sink, and a bounded source (ReadConfig.Bounded) with the
// exactly-once sink (WriteConfig.ExactlyOnce). Splits are partitions; a record is W1's Kafka shape (key, 8-byte
// big-endian value, event time as the record timestamp); a bad record is a value of another length; a new split
// is a partition added to the topic.
func TestConformance(t *testing.T) {
	t.Parallel()
	c := kafkatest.Start(t)
	var topics atomic.Int64
	for _, bounded := range []bool{false, true} {
		t.Run(fmt.Sprintf("bounded=%v", bounded), func(t *testing.T) {
			iotest.TestSource(t, iotest.Harness{
				Features: iotest.Features{Bounded: bounded, BadRecords: true, NewSplits: !bounded, Sink: true, ExactlyOnceSink: bounded},
				Setup: func(t *testing.T, splits int) iotest.Env {
					topic := fmt.Sprintf("conformance-%d", topics.Add(1))
					c.CreateTopic(t, topic, int32(splits))
					return &conformanceTopic{c: c, topic: topic, bounded: bounded, partitions: int32(splits)}
				},
			})
		})
	}
}

// conformanceTopic is a topic under the conformance suite; split i is partition i.
type conformanceTopic struct {
	c       *kafkatest.Cluster
	topic   string
	bounded bool

	mu         sync.Mutex
	partitions int32
}

func (e *conformanceTopic) Source(t *testing.T) pipeline.Source[iotest.Record] {
	src, err := kafkaio.NewSource(kafkaio.ReadConfig[iotest.Record]{
		Brokers: e.c.Brokers,
		Topic:   e.topic,
		Bounded: e.bounded,
		Decode:  decodeConformance,
		Timeout: 10 * time.Second,
		Logger:  slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	require.NoError(t, err)
	return src
}

// Sink returns the at-least-once sink alongside the unbounded source and the exactly-once (transactional) sink
// alongside the bounded one, so that both sink modes pass the suite.
func (e *conformanceTopic) Sink(t *testing.T) pipeline.Sink[iotest.Record] {
	cfg := kafkaio.WriteConfig[iotest.Record]{
		Brokers: e.c.Brokers,
		Topic:   e.topic,
		Encode:  encodeConformance,
		Timeout: 10 * time.Second,
		Logger:  slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
	if e.bounded {
		cfg.ExactlyOnce, cfg.TransactionalID = true, e.topic
	}
	sink, err := kafkaio.NewSink(cfg)
	require.NoError(t, err)
	return sink
}

func encodeConformance(r iotest.Record) (kafkaio.Message, error) {
	return kafkaio.Message{Key: []byte(r.Key), Value: binary.BigEndian.AppendUint64(nil, uint64(r.Value)), Time: r.Time}, nil
}

// decodeConformance decodes W1's Kafka shape; the event time is the record timestamp (the source's default).
func decodeConformance(m kafkaio.Message) (iotest.Record, error) {
	if len(m.Value) != 8 {
		return iotest.Record{}, fmt.Errorf("value has %d bytes, want 8", len(m.Value))
	}
	return iotest.Record{Key: string(m.Key), Value: int64(binary.BigEndian.Uint64(m.Value)), Time: m.Time}, nil
}

func (e *conformanceTopic) Append(t *testing.T, split int, recs ...iotest.Record) {
	krs := make([]kafkatest.Record, len(recs))
	for i, r := range recs {
		krs[i] = kafkatest.Record{Partition: int32(split), Key: []byte(r.Key), Value: binary.BigEndian.AppendUint64(nil, uint64(r.Value)), Time: r.Time}
	}
	e.c.Produce(t, e.topic, krs...)
}

func (e *conformanceTopic) AppendBad(t *testing.T, split int) string {
	out := e.c.Produce(t, e.topic, kafkatest.Record{Partition: int32(split), Key: []byte("bad"), Value: []byte("bad")})
	return fmt.Sprintf("partition %d offset %d", split, out[0].Offset)
}

func (e *conformanceTopic) AddSplit(t *testing.T) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.partitions++
	e.c.AddPartitions(t, e.topic, e.partitions)
	return int(e.partitions - 1)
}

// End does nothing: a bounded source ends each partition at the end offset it has when the split is opened.
func (e *conformanceTopic) End(*testing.T) {}
