package local_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/w1"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
)

// A job stopped with a savepoint (kept when periodic checkpoints are collected) and a new job started from it
// (StartFrom) together emit exactly the output of one uninterrupted job.
func TestSavepointAndStartFrom(t *testing.T) {
	const n = 20000
	want := func() []string {
		res := pipelinetest.NewResult[string]()
		require.NoError(t, runCheckpointed(t, checkpointedJob(feedW1(n, 3), nil, res), nil, 2))
		return sorted(res.Values())
	}()
	dir := t.TempDir()
	store := local.DirStore(dir)
	feed := feedW1(n, 3)
	res := pipelinetest.NewResult[string]()
	clock := newTickClock(100 * time.Millisecond)
	r := local.New(local.Config{Mode: local.Stream, Workers: 2, Now: clock.Now, EpochInterval: 300 * time.Millisecond,
		BatchRecords: 300, BatchWait: time.Millisecond, Checkpoints: store, KeepCheckpoints: 1})
	spErr := make(chan error, 1)
	var once sync.Once
	clock.after(2*time.Second, func() {
		once.Do(func() {
			go func() { spErr <- r.StopWithSavepoint(context.Background(), "before-upgrade") }()
		})
	})
	require.NoError(t, r.Run(context.Background(), checkpointedJob(feed, nil, res)))
	require.NoError(t, <-spErr)
	names, err := store.List(context.Background(), "savepoint-before-upgrade/")
	require.NoError(t, err)
	require.Contains(t, names, "savepoint-before-upgrade/meta.json")
	before := len(res.Values())
	require.Greater(t, before, 0)
	require.Less(t, before, len(want))

	// Start a new job from the savepoint, with a fresh checkpoint location.
	res2 := pipelinetest.NewResult[string]()
	clock2 := newTickClock(100 * time.Millisecond)
	cfg := local.Config{Mode: local.Stream, Workers: 2, Now: clock2.Now, EpochInterval: 300 * time.Millisecond,
		BatchRecords: 300, BatchWait: time.Millisecond, StopWhenIdle: 3 * time.Second,
		Checkpoints: store, StartFrom: "before-upgrade"}
	require.NoError(t, local.New(cfg).Run(context.Background(), checkpointedJob(feed, nil, res2)))
	// Everything up to the savepoint was committed by the first job; the second job produced the rest.
	got := sorted(append(res.Values(), res2.Values()...))
	require.Equal(t, want, got)

	err = local.New(local.Config{Mode: local.Stream, Checkpoints: store, StartFrom: "missing"}).Run(context.Background(), checkpointedJob(feedW1(10, 1), nil, pipelinetest.NewResult[string]()))
	require.ErrorIs(t, err, local.ErrNoCheckpoint)
	require.ErrorContains(t, err, `savepoint "missing"`)
}

// ackRecorder is a source that records, in one log with the checkpoint store, when positions are acknowledged.
type ackRecorder struct {
	*pipelinetest.Feed[w1.Event]
	log *eventLog
}

func (a ackRecorder) Ack(_ context.Context, pos map[string][]byte) error {
	a.log.add(fmt.Sprintf("ack %d splits", len(pos)))
	return nil
}

type eventLog struct {
	mu sync.Mutex
	ev []string
}

func (l *eventLog) add(s string) {
	l.mu.Lock()
	l.ev = append(l.ev, s)
	l.mu.Unlock()
}

type loggingStore struct {
	local.CheckpointStore
	log *eventLog
}

func (s loggingStore) Put(ctx context.Context, name string, data []byte) error {
	if strings.HasSuffix(name, "meta.json") {
		defer s.log.add("manifest " + name[:strings.IndexByte(name, '/')])
	}
	return s.CheckpointStore.Put(ctx, name, data)
}

// Sources acknowledge positions upstream (Kafka group offsets) only after the checkpoint holding them is durable.
func TestAckOnlyAfterCheckpoint(t *testing.T) {
	log := &eventLog{}
	src := ackRecorder{Feed: feedW1(5000, 2), log: log}
	p := pipeline.New()
	s := p.Root()
	in := pipeline.Read(s, pipeline.Source[w1.Event](src))
	pipelinetest.Collect(s, in)
	clock := newTickClock(100 * time.Millisecond)
	cfg := local.Config{Mode: local.Stream, Workers: 2, Now: clock.Now, EpochInterval: 500 * time.Millisecond,
		BatchRecords: 100, BatchWait: time.Millisecond, StopWhenIdle: 2 * time.Second,
		Checkpoints: loggingStore{local.DirStore(t.TempDir()), log}}
	require.NoError(t, local.New(cfg).Run(context.Background(), p))
	require.NotEmpty(t, log.ev)
	require.True(t, strings.HasPrefix(log.ev[0], "manifest"), "first event %q", log.ev[0])
	for i, e := range log.ev {
		if strings.HasPrefix(e, "ack") {
			require.True(t, strings.HasPrefix(log.ev[i-1], "manifest"), "ack at %d not right after a manifest: %v", i, log.ev)
		}
	}
}
