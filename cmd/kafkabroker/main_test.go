package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/io/kafkaio"
	"github.com/kappaflow/kappa/pipeline"
)

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs the command until the test ends and returns its listen addresses.
func start(t *testing.T, args ...string) ([]string, *syncBuf) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan []string, 1)
	done := make(chan error, 1)
	var logs syncBuf
	go func() { done <- run(ctx, args, &logs, ready) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	select {
	case addrs := <-ready:
		return addrs, &logs
	case err := <-done:
		t.Fatalf("run: %v\n%s", err, logs.String())
	case <-time.After(20 * time.Second):
		t.Fatal("not ready")
	}
	return nil, nil
}

func TestBrokerServesTopicsAndRoundTrips(t *testing.T) {
	addrs, logs := start(t, "-port", "0", "-brokers", "2", "-topics", "w1:3,other")
	require.Len(t, addrs, 2)
	require.Contains(t, logs.String(), `msg="created topic" topic=w1 partitions=3`)
	require.Contains(t, logs.String(), `msg="created topic" topic=other partitions=4`)
	require.Contains(t, logs.String(), `msg="kafka broker listening" brokers=`+strings.Join(addrs, ","))

	ctx := context.Background()
	src, err := kafkaio.NewSource(kafkaio.ReadConfig[string]{Brokers: addrs[1:], Topic: "w1", Bounded: true})
	require.NoError(t, err)
	splits, err := src.Splits(ctx)
	require.NoError(t, err)
	require.Len(t, splits, 3)

	sink, err := kafkaio.NewSink(kafkaio.WriteConfig[string]{Brokers: addrs, Topic: "w1"})
	require.NoError(t, err)
	w, err := sink.Open(ctx, pipeline.Shard{Index: 0, Count: 1})
	require.NoError(t, err)
	var es []pipeline.Element[string]
	for i := range 30 {
		es = append(es, pipeline.Element[string]{Value: fmt.Sprint(i), Time: pipeline.Time(i)})
	}
	require.NoError(t, w.Write(ctx, es))
	_, err = w.Prepare(ctx, pipeline.Epoch{ID: 1})
	require.NoError(t, err)
	require.NoError(t, w.Close(ctx))
	n := 0
	for _, s := range splits {
		r, err := src.Open(ctx, s, nil)
		require.NoError(t, err)
		var b pipeline.Batch[string]
		for {
			b.Reset()
			err := r.ReadBatch(ctx, &b, pipeline.Limits{MaxRecords: 100, MaxWait: time.Second})
			n += b.Len()
			if err != nil {
				require.ErrorIs(t, err, pipeline.ErrEndOfInput)
				break
			}
		}
		require.NoError(t, r.Close())
	}
	require.Equal(t, 30, n)
}

func TestBrokerKeepsDataInDataDir(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan []string, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-port", "0", "-data", dir, "-topics", "t:1"}, &syncBuf{}, ready) }()
	addrs := <-ready
	sink, err := kafkaio.NewSink(kafkaio.WriteConfig[string]{Brokers: addrs, Topic: "t"})
	require.NoError(t, err)
	w, err := sink.Open(context.Background(), pipeline.Shard{Index: 0, Count: 1})
	require.NoError(t, err)
	require.NoError(t, w.Write(context.Background(), []pipeline.Element[string]{{Value: "kept"}}))
	_, err = w.Prepare(context.Background(), pipeline.Epoch{ID: 1})
	require.NoError(t, err)
	require.NoError(t, w.Close(context.Background()))
	cancel()
	require.NoError(t, <-done)

	addrs, logs := start(t, "-port", "0", "-data", dir, "-topics", "t:1")
	require.Contains(t, logs.String(), `msg="topic exists" topic=t partitions=1`)
	src, err := kafkaio.NewSource(kafkaio.ReadConfig[string]{Brokers: addrs, Topic: "t", Bounded: true})
	require.NoError(t, err)
	r, err := src.Open(context.Background(), pipeline.Split{ID: "0"}, nil)
	require.NoError(t, err)
	defer r.Close()
	var b pipeline.Batch[string]
	require.ErrorIs(t, r.ReadBatch(context.Background(), &b, pipeline.Limits{MaxRecords: 10}), pipeline.ErrEndOfInput)
	require.Equal(t, []string{"kept"}, b.Values)
}

func TestBrokerFlags(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-brokers", "0"}, "-brokers must be at least 1"},
		{[]string{"-topics", "a:x"}, `-topics: bad partition count in "a:x"`},
		{[]string{"-topics", ":3"}, `-topics: empty topic name in ":3"`},
		{[]string{"-log-level", "loud"}, `-log-level: slog: level string "loud": unknown name`},
		{[]string{"extra"}, `unexpected arguments ["extra"]`},
	} {
		err := run(context.Background(), tt.args, &syncBuf{}, nil)
		require.EqualError(t, err, tt.want, "%v", tt.args)
	}
}
