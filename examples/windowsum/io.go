package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kappaflow/kappa/internal/w1"
	"github.com/kappaflow/kappa/io/foreach"
	"github.com/kappaflow/kappa/io/kafkaio"
	"github.com/kappaflow/kappa/io/objstore"
	"github.com/kappaflow/kappa/io/parquetio"
	"github.com/kappaflow/kappa/pipeline"
)

// s3Config returns the S3 settings for s3:// URLs (-s3-endpoint, see jobcli.Flags.S3).
func s3Config(o options) objstore.Config { return o.job.S3() }

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

// readEvents reads W1 events from -from: Parquet files (folder, glob or s3:// URL) or a Kafka topic. With
// -dead-letters, unreadable input goes to that file instead of failing the run; -max-future-skew refuses records
// stamped too far ahead of the clock.
func readEvents(s pipeline.Scope, o options) (pipeline.PCollection[w1.Event], *deadLetterFile, error) {
	opts := []pipeline.ReadOption{pipeline.OutOfOrderness(time.Duration(w1.MaxDelay) * time.Millisecond)}
	if o.maxFutureSkew > 0 {
		opts = append(opts, pipeline.MaxFutureSkew(o.maxFutureSkew))
	}
	var events pipeline.PCollection[w1.Event]
	var dead pipeline.PCollection[*pipeline.RecordError]
	dlq := o.deadLetters != ""
	if isKafka(o.from) {
		cfg, err := kafkaio.ReadConfigFromURL[w1.Event](o.from)
		if err != nil {
			return events, nil, err
		}
		cfg.Decode = w1FromKafka
		// No idle timeout unless asked for: a partition whose first fetch is slow would be declared idle while the
		// others run ahead in event time, and its records would arrive late. The drain at -stop-idle fires
		// every window at the end anyway.
		opts = append(opts, pipeline.IdleTimeout(o.idle))
		if dlq {
			events, dead = kafkaio.ReadWithDeadLetters(s, cfg, opts...)
		} else {
			events = kafkaio.Read(s, cfg, opts...)
		}
	} else {
		cfg := parquetio.ReadConfig[w1.Event]{URL: o.from, S3: s3Config(o), TimeColumn: "time", Logger: logger(o)}
		if dlq {
			events, dead = parquetio.ReadWithDeadLetters(s, cfg, opts...)
		} else {
			events = parquetio.Read(s, cfg, opts...)
		}
	}
	if !dlq {
		return events, nil, nil
	}
	f, err := newDeadLetterFile(o.deadLetters)
	if err != nil {
		return events, nil, err
	}
	foreach.Write(s, dead, f.write, foreach.Name("DeadLetters"))
	return events, f, nil
}

// deadLetterFile writes dead letters as JSON lines: {"source", "location", "error", "raw"} (raw as base64, when
// the source had the record's bytes).
type deadLetterFile struct {
	mu   sync.Mutex
	f    *os.File
	w    *bufio.Writer
	path string
	err  error
}

func newDeadLetterFile(path string) (*deadLetterFile, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("-dead-letters: %w", err)
	}
	return &deadLetterFile{f: f, w: bufio.NewWriter(f), path: path}, nil
}

type deadLetterLine struct {
	Source   string `json:"source"`
	Location string `json:"location,omitempty"`
	Error    string `json:"error"`
	Raw      []byte `json:"raw,omitempty"`
}

func (d *deadLetterFile) write(_ context.Context, e *pipeline.RecordError) error {
	line, err := json.Marshal(deadLetterLine{Source: e.Source, Location: e.Location, Error: e.Err.Error(), Raw: e.Raw})
	if err != nil {
		return fmt.Errorf("dead letter %s: %w", e.Location, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := d.w.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("write %s: %w", d.path, err)
	}
	return nil
}

// close flushes and closes the file (once; later calls return the first result).
func (d *deadLetterFile) close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f == nil {
		return d.err
	}
	d.err = d.w.Flush()
	if err := d.f.Close(); d.err == nil {
		d.err = err
	}
	d.f = nil
	if d.err != nil {
		d.err = fmt.Errorf("write %s: %w", d.path, d.err)
	}
	return d.err
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
		cfg.Logger = logger(o)
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
		cfg.Logger = logger(o)
		kafkaio.Write(s, events, cfg)
	}
	if o.writeParquet != "" {
		parquetio.Write(s, events, parquetio.WriteConfig[w1.Event]{URL: o.writeParquet, S3: s3Config(o),
			JobID: "w1-events", MaxFileRows: 4 << 20, RowGroupRows: 1 << 20, Logger: logger(o)})
	}
	return nil
}
