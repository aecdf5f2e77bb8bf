package kafkaio_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/kappaflow/kappa/internal/testsvc/kafkatest"
	"github.com/kappaflow/kappa/io/kafkaio"
	"github.com/kappaflow/kappa/pipeline"
)

// Writing a few elements with a Sink and reading them back, split by split, with a bounded Source.
func Example() {
	c, err := kafkatest.New(kafkatest.Topic("greetings", 2))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	ctx := context.Background()

	sink, err := kafkaio.NewSink(kafkaio.WriteConfig[string]{Brokers: c.Brokers, Topic: "greetings", Partitioning: kafkaio.Manual,
		Encode: func(s string) (kafkaio.Message, error) {
			return kafkaio.Message{Partition: int32(len(s) % 2), Value: []byte(s)}, nil
		}})
	if err != nil {
		fmt.Println(err)
		return
	}
	w, err := sink.Open(ctx, pipeline.Shard{Index: 0, Count: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	at := pipeline.TimeOf(time.Date(2016, 9, 21, 18, 30, 0, 0, time.UTC))
	if err := w.Write(ctx, []pipeline.Element[string]{{Value: "hello", Time: at}, {Value: "kafka", Time: at + 1}, {Value: "kappa!", Time: at + 2}}); err != nil {
		fmt.Println(err)
		return
	}
	if _, err := w.Prepare(ctx, pipeline.Epoch{ID: 1}); err != nil { // waits for the acknowledgements
		fmt.Println(err)
		return
	}
	_ = w.Close(ctx)

	src, err := kafkaio.NewSource(kafkaio.ReadConfig[string]{Brokers: c.Brokers, Topic: "greetings", Bounded: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	splits, err := src.Splits(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, split := range splits {
		r, err := src.Open(ctx, split, nil)
		if err != nil {
			fmt.Println(err)
			return
		}
		var b pipeline.Batch[string]
		for {
			b.Reset()
			err := r.ReadBatch(ctx, &b, pipeline.Limits{MaxRecords: 100, MaxWait: time.Second})
			for i, v := range b.Values {
				fmt.Printf("partition %s: %s at %s\n", split.ID, v, b.Times[i])
			}
			if errors.Is(err, pipeline.ErrEndOfInput) {
				break
			}
			if err != nil {
				fmt.Println(err)
				return
			}
		}
		next, _ := kafkaio.DecodePosition(r.Position())
		fmt.Printf("partition %s: next offset %d\n", split.ID, next)
		_ = r.Close()
	}
	// Output:
	// partition 0: kappa! at 2016-09-21T18:30:00.002Z
	// partition 0: next offset 1
	// partition 1: hello at 2016-09-21T18:30:00.000Z
	// partition 1: kafka at 2016-09-21T18:30:00.001Z
	// partition 1: next offset 2
}

// W1 events travel through Kafka as key = key, value = 8-byte big-endian value, timestamp = event time.
type event struct {
	Key   string
	Value int64
}

// Reading W1 events in a pipeline, with a dead-letter output for records that are not 8 bytes long.
func ExampleReadWithDeadLetters() {
	p := pipeline.New()
	cfg, err := kafkaio.ReadConfigFromURL[event]("kafka://127.0.0.1:9092/w1")
	if err != nil {
		fmt.Println(err)
		return
	}
	cfg.Decode = func(m kafkaio.Message) (event, error) {
		if len(m.Value) != 8 {
			return event{}, fmt.Errorf("value has %d bytes, want 8", len(m.Value))
		}
		return event{Key: string(m.Key), Value: int64(binary.BigEndian.Uint64(m.Value))}, nil
	}
	events, dead := kafkaio.ReadWithDeadLetters(p.Root(), cfg, pipeline.IdleTimeout(10*time.Second))
	fmt.Println(events.Valid(), dead.Valid(), p.Err())
	// Output: true true <nil>
}

func ExampleWriteConfigFromURL() {
	cfg, err := kafkaio.WriteConfigFromURL[[]byte]("kafka://127.0.0.1:9092/w1?compression=lz4&transactional_id=windowsum")
	fmt.Println(cfg.Brokers, cfg.Topic, cfg.Compression, cfg.ExactlyOnce, cfg.TransactionalID, err)
	// Output: [127.0.0.1:9092] w1 lz4 true windowsum <nil>
}
