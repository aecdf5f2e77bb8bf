package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/kappaflow/kappa/internal/w1"
	"github.com/kappaflow/kappa/io/kafkaio"
	"github.com/kappaflow/kappa/io/objstore"
	"github.com/kappaflow/kappa/io/parquetio"
	"github.com/kappaflow/kappa/pipeline"
)

// s3Config returns the S3 settings for s3:// URLs: -s3-endpoint (or KAPPA_S3_ENDPOINT) points at an
// S3-compatible server with path-style addressing; credentials come from the AWS chain, or dummies for a local
// endpoint without any.
func s3Config(o options) objstore.Config {
	ep := o.s3Endpoint
	if ep == "" {
		ep = os.Getenv("KAPPA_S3_ENDPOINT")
	}
	if ep == "" {
		return objstore.Config{}
	}
	cfg := objstore.Config{Endpoint: ep, UsePathStyle: true, Region: "us-east-1"}
	if os.Getenv("AWS_ACCESS_KEY_ID") == "" {
		cfg.AccessKeyID, cfg.SecretAccessKey = "kappa", "kappa"
	}
	return cfg
}

func isKafka(u string) bool { return strings.HasPrefix(u, "kafka://") }

// w1FromKafka decodes W1 records: key = key, value = 8-byte big-endian value, timestamp = event time.
func w1FromKafka(m kafkaio.Message) (w1.Event, error) {
	if len(m.Value) != 8 {
		return w1.Event{}, fmt.Errorf("value has %d bytes, want 8 (big-endian int64)", len(m.Value))
	}
	return w1.Event{Key: string(m.Key), Value: int64(binary.BigEndian.Uint64(m.Value)), Time: m.Time.UnixMilli()}, nil
}

func w1ToKafka(e w1.Event) (kafkaio.Message, error) {
	return kafkaio.Message{Key: []byte(e.Key), Value: binary.BigEndian.AppendUint64(nil, uint64(e.Value)), Time: time.UnixMilli(e.Time)}, nil
}

// readEvents reads W1 events from -from: Parquet files (folder, glob or s3:// URL) or a Kafka topic.
func readEvents(s pipeline.Scope, o options) (pipeline.PCollection[w1.Event], error) {
	bound := pipeline.OutOfOrderness(time.Duration(w1.MaxDelay) * time.Millisecond)
	if isKafka(o.from) {
		cfg, err := kafkaio.ReadConfigFromURL[w1.Event](o.from)
		if err != nil {
			return pipeline.PCollection[w1.Event]{}, err
		}
		cfg.Decode = w1FromKafka
		// No idle timeout unless asked for: a partition whose first fetch is slow would be declared idle while the
		// others run ahead in event time, and its records would arrive late. The drain at -stop-idle fires
		// every window at the end anyway.
		return kafkaio.Read(s, cfg, bound, pipeline.IdleTimeout(o.idle)), nil
	}
	cfg := parquetio.ReadConfig[w1.Event]{URL: o.from, S3: s3Config(o), TimeColumn: "time", Logger: logger(o)}
	return parquetio.Read(s, cfg, bound), nil
}

// writeRows writes W1's rows to -to: as Parquet (a folder or s3:// URL, one folder per window), or as JSON records
// keyed by key to a Kafka topic (kafka://host:port/topic; add ?transactional_id=NAME for exactly-once).
func writeRows(s pipeline.Scope, rows pipeline.PCollection[w1.Row], o options) error {
	if isKafka(o.to) {
		cfg, err := kafkaio.WriteConfigFromURL[w1.Row](o.to)
		if err != nil {
			return err
		}
		cfg.Encode = func(r w1.Row) (kafkaio.Message, error) {
			m, err := kafkaio.EncodeJSON(r)
			m.Key = []byte(r.Key)
			return m, err
		}
		kafkaio.Write(s, rows, cfg)
		return nil
	}
	parquetio.Write(s, rows, parquetio.WriteConfig[w1.Row]{URL: o.to, S3: s3Config(o), JobID: "windowsum", Logger: logger(o)})
	return nil
}

// crashHook kills the process at an epoch step named by KAPPA_CRASH=step:epoch (fault-injection tests).
func crashHook() func(uint64, string) {
	spec := os.Getenv("KAPPA_CRASH")
	if spec == "" {
		return nil
	}
	step, epochStr, _ := strings.Cut(spec, ":")
	var epoch uint64
	fmt.Sscan(epochStr, &epoch)
	return func(e uint64, s string) {
		if s == step && e >= epoch {
			fmt.Fprintf(os.Stderr, "windowsum: KAPPA_CRASH: killing myself at %s of epoch %d\n", s, e)
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}
}

// writeEvents writes generated events to -write-parquet or -publish.
func writeEvents(s pipeline.Scope, events pipeline.PCollection[w1.Event], o options) error {
	if o.publish != "" {
		cfg, err := kafkaio.WriteConfigFromURL[w1.Event](o.publish)
		if err != nil {
			return err
		}
		cfg.Encode = w1ToKafka
		kafkaio.Write(s, events, cfg)
	}
	if o.writeParquet != "" {
		parquetio.Write(s, events, parquetio.WriteConfig[w1.Event]{URL: o.writeParquet, S3: s3Config(o),
			JobID: "w1-events", MaxFileRows: 4 << 20, RowGroupRows: 1 << 20, Logger: logger(o)})
	}
	return nil
}

func checkpointStore(ctx context.Context, o options) (*objstore.CheckpointStore, error) {
	return objstore.NewCheckpointStore(ctx, o.checkpoint, s3Config(o))
}
