package kafkaio_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kappaflow/kappa/internal/testsvc/kafkatest"
	"github.com/kappaflow/kappa/internal/w1"
	"github.com/kappaflow/kappa/io/kafkaio"
	"github.com/kappaflow/kappa/pipeline"
)

const (
	benchRecords    = 200_000
	benchPartitions = 4
)

// w1Message is W1's Kafka form: key = key, value = 8-byte big-endian value, timestamp = event time.
func w1Message(e w1.Event) kafkaio.Message {
	v := make([]byte, 8)
	binary.BigEndian.PutUint64(v, uint64(e.Value))
	return kafkaio.Message{Key: []byte(e.Key), Value: v, Time: time.UnixMilli(e.Time)}
}

func decodeW1(m kafkaio.Message) (w1.Event, error) {
	if len(m.Value) != 8 {
		return w1.Event{}, fmt.Errorf("value has %d bytes, want 8", len(m.Value))
	}
	return w1.Event{Key: string(m.Key), Value: int64(binary.BigEndian.Uint64(m.Value)), Time: m.Time.UnixMilli()}, nil
}

func encodeW1(e w1.Event) (kafkaio.Message, error) { return w1Message(e), nil }

// BenchmarkKafkaToKafka moves benchRecords W1 records from a 4-partition topic to another, one goroutine per
// partition, (1) with kafka-go's own Reader and Writer and no processing, (2) through kappa's Source (decoding
// W1 events) and Sink (encoding them), at-least-once and exactly-once, and (3) with a bare kgo consumer/producer
// loop. Each reports records/s.
//
//	go test -run '^$' -bench KafkaToKafka -benchtime 3x ./io/kafkaio/
func BenchmarkKafkaToKafka(b *testing.B) {
	c := kafkatest.Start(b, kafkatest.Topic("in", benchPartitions))
	// Fill the input with the sink itself (hash partitioning by key, like the Java client).
	fill := kafkaio.WriteConfig[w1.Event]{Brokers: c.Brokers, Topic: "in", Encode: encodeW1}
	sink, err := kafkaio.NewSink(fill)
	require.NoError(b, err)
	w, err := sink.Open(context.Background(), pipeline.Shard{Index: 0, Count: 1})
	require.NoError(b, err)
	es := make([]pipeline.Element[w1.Event], 0, 10000)
	for i := range int64(benchRecords) {
		e := w1.Gen(i)
		es = append(es, pipeline.Element[w1.Event]{Value: e, Time: pipeline.Time(e.Time)})
		if len(es) == cap(es) {
			require.NoError(b, w.Write(context.Background(), es))
			es = es[:0]
		}
	}
	_, err = w.Prepare(context.Background(), pipeline.Epoch{ID: 1})
	require.NoError(b, err)
	require.NoError(b, w.Close(context.Background()))
	ends := c.EndOffsets(b, "in", true)

	topics := 0
	run := func(b *testing.B, name string, move func(b *testing.B, out string)) {
		b.Run(name, func(b *testing.B) {
			var total time.Duration
			for range b.N {
				topics++
				out := fmt.Sprintf("out-%s-%d", name, topics)
				c.CreateTopic(b, out, benchPartitions)
				start := time.Now()
				move(b, out)
				total += time.Since(start)
				n := int64(0)
				for _, e := range c.EndOffsets(b, out, true) {
					n += e
				}
				require.GreaterOrEqual(b, n, int64(benchRecords), "records moved to %s", out)
			}
			b.ReportMetric(float64(benchRecords)*float64(b.N)/total.Seconds(), "records/s")
			b.ReportMetric(0, "ns/op")
		})
	}
	perPartition := func(b *testing.B, f func(p int) error) {
		var wg sync.WaitGroup
		errs := make([]error, benchPartitions)
		for p := range benchPartitions {
			wg.Go(func() { errs[p] = f(p) })
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(b, err)
		}
	}

	run(b, "kafka-go", func(b *testing.B, out string) {
		tr := &kafka.Transport{} // its own metadata cache, which knows the new topic
		defer tr.CloseIdleConnections()
		wr := &kafka.Writer{Addr: kafka.TCP(c.Brokers...), Topic: out, Balancer: &kafka.Murmur2Balancer{}, Transport: tr,
			BatchSize: 10000, BatchBytes: 16 << 20, BatchTimeout: 5 * time.Millisecond, RequiredAcks: kafka.RequireAll}
		defer wr.Close()
		perPartition(b, func(p int) error {
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: c.Brokers, Topic: "in", Partition: p, MaxBytes: 16 << 20, MaxWait: 100 * time.Millisecond})
			defer r.Close()
			end := ends[int32(p)]
			buf := make([]kafka.Message, 0, 4096)
			for {
				m, err := r.FetchMessage(context.Background())
				if err != nil {
					return err
				}
				buf = append(buf, kafka.Message{Key: m.Key, Value: m.Value, Time: m.Time})
				last := m.Offset == end-1
				if len(buf) == cap(buf) || last {
					if err := wr.WriteMessages(context.Background(), buf...); err != nil {
						return err
					}
					buf = buf[:0]
				}
				if last {
					return nil
				}
			}
		})
	})

	kappa := func(exactlyOnce bool) func(b *testing.B, out string) {
		return func(b *testing.B, out string) {
			src, err := kafkaio.NewSource(kafkaio.ReadConfig[w1.Event]{Brokers: c.Brokers, Topic: "in", Decode: decodeW1, Bounded: true})
			require.NoError(b, err)
			cfg := kafkaio.WriteConfig[w1.Event]{Brokers: c.Brokers, Topic: out, Encode: encodeW1}
			if exactlyOnce {
				cfg.ExactlyOnce, cfg.TransactionalID = true, out
			}
			sink, err := kafkaio.NewSink(cfg)
			require.NoError(b, err)
			perPartition(b, func(p int) error {
				ctx := context.Background()
				r, err := src.Open(ctx, pipeline.Split{ID: fmt.Sprint(p)}, nil)
				if err != nil {
					return err
				}
				defer r.Close()
				w, err := sink.Open(ctx, pipeline.Shard{Index: p, Count: benchPartitions})
				if err != nil {
					return err
				}
				defer w.Close(ctx)
				var batch pipeline.Batch[w1.Event]
				var elems []pipeline.Element[w1.Event]
				epoch, sinceEpoch := uint64(0), 0
				for {
					batch.Reset()
					rerr := r.ReadBatch(ctx, &batch, pipeline.Limits{MaxRecords: 4096, MaxWait: 100 * time.Millisecond})
					if rerr != nil && rerr != pipeline.ErrEndOfInput {
						return rerr
					}
					elems = elems[:0]
					for i, v := range batch.Values {
						elems = append(elems, pipeline.Element[w1.Event]{Value: v, Time: batch.Times[i]})
					}
					if err := w.Write(ctx, elems); err != nil {
						return err
					}
					sinceEpoch += len(elems)
					if sinceEpoch >= 25_000 || rerr != nil { // an epoch every 25k records per shard
						epoch++
						tok, err := w.Prepare(ctx, pipeline.Epoch{ID: epoch})
						if err != nil {
							return err
						}
						if err := w.Commit(ctx, tok); err != nil {
							return err
						}
						sinceEpoch = 0
					}
					if rerr != nil {
						return nil
					}
				}
			})
		}
	}
	run(b, "kappa", kappa(false))
	run(b, "kappa-exactly-once", kappa(true))

	run(b, "kgo", func(b *testing.B, out string) {
		perPartition(b, func(p int) error {
			ctx := context.Background()
			cl, err := kgo.NewClient(kgo.SeedBrokers(c.Brokers...), kgo.DefaultProduceTopic(out), kgo.ProducerLinger(0),
				kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"in": {int32(p): kgo.NewOffset().AtStart()}}),
				kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
			if err != nil {
				return err
			}
			defer cl.Close()
			end := ends[int32(p)]
			for done := false; !done; {
				fs := cl.PollRecords(ctx, 4096)
				if err := fs.Err0(); err != nil {
					return err
				}
				fs.EachRecord(func(r *kgo.Record) {
					cl.Produce(ctx, &kgo.Record{Key: r.Key, Value: r.Value, Timestamp: r.Timestamp}, nil)
					done = done || r.Offset == end-1
				})
			}
			return cl.Flush(ctx)
		})
	})
}
