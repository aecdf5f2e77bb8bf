package kafkaio_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/testsvc/kafkatest"
	"github.com/kappaflow/kappa/io/kafkaio"
	"github.com/kappaflow/kappa/pipeline"
)

func TestUndecodableRecordBecomesRecordError(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("t", 2))
	c.Produce(t, "t", rec(1, `{"n":1}`, 10), rec(1, `not json`, 20), rec(1, `{"n":3}`, 30))
	type ev struct{ N int }
	src := newSource(t, kafkaio.ReadConfig[ev]{Brokers: c.Brokers, Topic: "t"})
	got := drain(t, src, "1", nil, 3, pipeline.Limits{})
	require.Equal(t, []ev{{1}, {3}}, got.values)
	require.Equal(t, []pipeline.Time{10, 30}, got.times)
	require.Len(t, got.failures, 1)
	f := got.failures[0]
	require.Equal(t, "kafka://"+c.Addr()+"/t", f.Source)
	require.Equal(t, "partition 1 offset 1", f.Location)
	require.Equal(t, []byte("not json"), f.Raw)
	require.EqualError(t, f, "kafka://"+c.Addr()+"/t partition 1 offset 1: decode JSON value: invalid character 'o' in literal null (expecting 'u')")
	require.Equal(t, int64(3), offsetOf(t, got.pos), "the position moves past the bad record")

	// A user decoder's error is wrapped unchanged.
	errBad := errors.New("bad checksum")
	src2 := newSource(t, kafkaio.ReadConfig[string]{Brokers: c.Brokers, Topic: "t", Decode: func(m kafkaio.Message) (string, error) {
		if m.Offset == 2 {
			return "", fmt.Errorf("record %d: %w", m.Offset, errBad)
		}
		return string(m.Value), nil
	}})
	got2 := drain(t, src2, "1", nil, 3, pipeline.Limits{})
	require.Len(t, got2.failures, 1)
	require.ErrorIs(t, got2.failures[0], errBad)
	require.Equal(t, "partition 1 offset 2", got2.failures[0].Location)

	// Through the pipeline API, the dead letters are the second output.
	p := pipeline.New()
	vals, dead := kafkaio.ReadWithDeadLetters(p.Root(), kafkaio.ReadConfig[ev]{Brokers: c.Brokers, Topic: "t"})
	require.NoError(t, p.Err())
	require.True(t, vals.Valid())
	require.True(t, dead.Valid())
	require.Equal(t, "kafkaio.Read", p.Transforms()[0].Name())
}

// deadAddr returns a 127.0.0.1 address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func TestBrokerUnavailable(t *testing.T) {
	t.Parallel() // waits on timeouts
	addr := deadAddr(t)
	refused := fmt.Sprintf("broker %s: unable to dial: dial tcp %s: connect: connection refused", addr, addr)
	name := "kafka://" + addr + "/t"
	t.Run("splits", func(t *testing.T) {
		src := newSource(t, kafkaio.ReadConfig[string]{Brokers: []string{addr}, Topic: "t", Timeout: 500 * time.Millisecond, Logger: quiet})
		start := time.Now()
		_, err := src.Splits(ctxT(t))
		require.GreaterOrEqual(t, time.Since(start), 500*time.Millisecond, "retried until Timeout")
		require.Less(t, time.Since(start), 5*time.Second)
		require.ErrorIs(t, err, kafkaio.ErrBrokersUnavailable)
		require.Regexp(t, `^`+name+`: list partitions: no broker answered for [0-9.]+m?s: last error: `+refused+`$`, err.Error())
	})
	t.Run("retries are logged", func(t *testing.T) {
		var buf syncBuffer
		log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}}))
		src := newSource(t, kafkaio.ReadConfig[string]{Brokers: []string{addr}, Topic: "t", Timeout: 500 * time.Millisecond, Logger: log})
		_, err := src.Splits(ctxT(t))
		require.Error(t, err)
		require.Contains(t, buf.String(), `level=WARN msg="kafka broker request failed; retrying with backoff" source=`+name+` err="`+refused+`"`)
	})
	t.Run("open", func(t *testing.T) {
		src := newSource(t, kafkaio.ReadConfig[string]{Brokers: []string{addr}, Topic: "t", Timeout: 500 * time.Millisecond, Logger: quiet})
		_, err := src.Open(ctxT(t), pipeline.Split{ID: "3"}, nil)
		require.ErrorIs(t, err, kafkaio.ErrBrokersUnavailable)
		require.Regexp(t, `^`+name+`: partition 3: list partitions: no broker answered for [0-9.]+m?s: last error: `+refused+`$`, err.Error())
	})
	t.Run("sink open", func(t *testing.T) {
		sink, err := kafkaio.NewSink(kafkaio.WriteConfig[string]{Brokers: []string{addr}, Topic: "t", Timeout: 500 * time.Millisecond, Logger: quiet})
		require.NoError(t, err)
		_, err = sink.Open(ctxT(t), pipeline.Shard{Index: 0, Count: 1})
		require.ErrorIs(t, err, kafkaio.ErrBrokersUnavailable)
		require.Regexp(t, `^`+name+`: list partitions: no broker answered for [0-9.]+m?s: last error: `+refused+`$`, err.Error())
	})
}

func TestBrokerGoesDownWhileReadingAndWriting(t *testing.T) {
	t.Parallel() // waits on timeouts
	c, err := kafkatest.New(kafkatest.Topic("t", 1))
	require.NoError(t, err)
	c.Produce(t, "t", rec(0, "a", 1))
	const timeout = time.Second
	src := newSource(t, kafkaio.ReadConfig[string]{Brokers: c.Brokers, Topic: "t", Timeout: timeout, Logger: quiet})
	r, err := src.Open(ctxT(t), pipeline.Split{ID: "0"}, nil)
	require.NoError(t, err)
	defer r.Close()
	require.Equal(t, []string{"a"}, drainReader(t, r, 1, pipeline.Limits{}).values)

	sink, err := kafkaio.NewSink(kafkaio.WriteConfig[string]{Brokers: c.Brokers, Topic: "t", Timeout: timeout, Logger: quiet})
	require.NoError(t, err)
	w, err := sink.Open(ctxT(t), pipeline.Shard{Index: 0, Count: 1})
	require.NoError(t, err)
	defer w.Close(context.Background())

	c.Close()
	start := time.Now()
	var b pipeline.Batch[string]
	for {
		b.Reset()
		err = r.ReadBatch(ctxT(t), &b, pipeline.Limits{MaxRecords: 10, MaxWait: 100 * time.Millisecond})
		if err != nil || time.Since(start) > 20*time.Second {
			break
		}
		require.Zero(t, b.Len())
	}
	took := time.Since(start)
	require.ErrorIs(t, err, kafkaio.ErrBrokersUnavailable)
	require.Regexp(t, `^kafka://`+c.Addr()+`/t: partition 0: fetch from offset 1: no broker answered for [0-9.]+m?s: last error: broker `+c.Addr()+`: `, err.Error())
	require.Less(t, took, timeout+6*time.Second, "the error comes about Timeout after the last successful fetch")

	require.NoError(t, w.Write(ctxT(t), []pipeline.Element[string]{{Value: "x", Time: 5}}))
	_, err = w.Prepare(ctxT(t), pipeline.Epoch{ID: 1})
	require.Error(t, err)
	require.Regexp(t, `^kafka://`+c.Addr()+`/t: shard 0: prepare epoch 1: 1 records not acknowledged for [0-9.]+m?s: last broker error: broker `+c.Addr()+`: unable to dial: dial tcp `+c.Addr()+`: connect: connection refused$`, err.Error())
	err = w.Write(ctxT(t), []pipeline.Element[string]{{Value: "y", Time: 5}})
	require.Regexp(t, `^kafka://`+c.Addr()+`/t: shard 0: write: 1 records not acknowledged for [0-9.]+m?s: last broker error: `, err.Error(), "the writer stays failed")
}

func TestTopicMissing(t *testing.T) {
	c := kafkatest.Start(t)
	name := "kafka://" + c.Addr() + "/nope"
	src := newSource(t, kafkaio.ReadConfig[string]{Brokers: c.Brokers, Topic: "nope"})
	_, err := src.Splits(ctxT(t))
	require.ErrorIs(t, err, kafkaio.ErrUnknownTopic)
	require.EqualError(t, err, name+`: topic "nope" does not exist`)

	_, err = src.Open(ctxT(t), pipeline.Split{ID: "0"}, nil)
	require.ErrorIs(t, err, kafkaio.ErrUnknownTopic)
	require.EqualError(t, err, name+`: partition 0: topic "nope" does not exist`)

	sink, err := kafkaio.NewSink(kafkaio.WriteConfig[string]{Brokers: c.Brokers, Topic: "nope"})
	require.NoError(t, err)
	_, err = sink.Open(ctxT(t), pipeline.Shard{Index: 0, Count: 1})
	require.ErrorIs(t, err, kafkaio.ErrUnknownTopic)
	require.EqualError(t, err, name+`: topic "nope" does not exist`)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestTopicDeletedWhileReading(t *testing.T) {
	t.Parallel() // waits on timeouts
	c := kafkatest.Start(t, kafkatest.Topic("t", 1))
	c.Produce(t, "t", rec(0, "a", 1))
	src := newSource(t, kafkaio.ReadConfig[string]{Brokers: c.Brokers, Topic: "t", Timeout: time.Second, Logger: quiet})
	r, err := src.Open(ctxT(t), pipeline.Split{ID: "0"}, nil)
	require.NoError(t, err)
	defer r.Close()
	drainReader(t, r, 1, pipeline.Limits{})
	require.NoError(t, c.Fake().DeleteTopic("t"))
	start := time.Now()
	var b pipeline.Batch[string]
	for err == nil && time.Since(start) < 30*time.Second {
		b.Reset()
		err = r.ReadBatch(ctxT(t), &b, pipeline.Limits{MaxRecords: 10, MaxWait: 100 * time.Millisecond})
	}
	require.ErrorIs(t, err, kafkaio.ErrUnknownTopic)
	require.ErrorIs(t, err, kafkaio.ErrTopicLost)
	require.EqualError(t, err, "kafka://"+c.Addr()+`/t: partition 0 offset 1: topic "t" no longer exists (a broker restarted without its data, `+
		`or the topic was deleted); restart the job without its checkpoint or consumer group offsets to read the topic as it is now`)
	require.Less(t, time.Since(start), 5*time.Second, "an idle reader checks its topic every second (kgo alone takes ~13 s)")
}

func TestOffsetOutOfRangeIsAnError(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("t", 1))
	c.Produce(t, "t", rec(0, "a", 1), rec(0, "b", 2), rec(0, "c", 3), rec(0, "d", 4))
	require.NoError(t, c.Fake().DeleteRecords("t", 0, 3)) // retention removed offsets 0-2
	src := newSource(t, kafkaio.ReadConfig[string]{Brokers: c.Brokers, Topic: "t", Logger: quiet})
	r, err := src.Open(ctxT(t), pipeline.Split{ID: "0"}, kafkaio.EncodePosition(1))
	require.NoError(t, err)
	defer r.Close()
	var b pipeline.Batch[string]
	for err == nil {
		b.Reset()
		err = r.ReadBatch(ctxT(t), &b, pipeline.Limits{MaxRecords: 10, MaxWait: 100 * time.Millisecond})
		require.Zero(t, b.Len(), "no silent jump to the log start")
	}
	require.EqualError(t, err, "kafka://"+c.Addr()+"/t: partition 0: offset 1 is out of range (deleted by retention, or the topic was recreated): "+
		"OFFSET_OUT_OF_RANGE: The requested offset is not within the range of offsets maintained by the server.")

	// Without a position the split starts at the log start.
	require.Equal(t, []string{"d"}, drain(t, src, "0", nil, 1, pipeline.Limits{}).values)
}
