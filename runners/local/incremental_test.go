package local_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

// totalsFeed has a large state that changes little: phase A touches `keys` distinct keys once each, phase B then
// sends `b` events over only 20 of them. One huge window holds every key until the end.
func totalsFeed(keys, b int) (*pipelinetest.Feed[ikv], map[string]int64) {
	f := pipelinetest.NewFeed[ikv]()
	want := map[string]int64{}
	t := int64(1_000_000)
	for i := range keys {
		k := fmt.Sprintf("key-%06d", i)
		f.Send(fmt.Sprint(i%2), pipelinetest.AtMillis(ikv{Key: k, Value: 1}, t))
		want[k]++
		t++
	}
	for i := range b {
		k := fmt.Sprintf("key-%06d", i%20)
		f.Send(fmt.Sprint(i%2), pipelinetest.AtMillis(ikv{Key: k, Value: int64(i)}, t))
		want[k] += int64(i)
		t++
	}
	return f, want
}

// totalsJob sums per key in one window that ends after the input; crashAt > 0 makes its Map panic at that element.
func totalsJob(feed *pipelinetest.Feed[ikv], crashAt int64, res *pipelinetest.Result[ikv]) *pipeline.Pipeline {
	p := pipeline.New()
	s := p.Root()
	var seen atomic.Int64
	in := pipeline.Read(s, pipeline.Source[ikv](feed), pipeline.IdleTimeout(time.Second))
	in = transforms.Map(s, in, func(v ikv) ikv {
		if seen.Add(1) == crashAt {
			panic("injected crash")
		}
		return v
	})
	big := windowing.Into(s, in, windowing.Fixed{Size: 1000 * 24 * time.Hour})
	pipeline.Write(s, transforms.SumPerKey(s.Scope("totals"), big), pipeline.Sink[ikv](res))
	return p
}

// Incremental checkpoints: once the state exists, a checkpoint uploads what changed in its epoch, not the whole
// state; and the job restored from chains of full and delta snapshots — twice, keys moving between workers at each
// restart — gives the uninterrupted job's results.
func TestIncrementalCheckpoints(t *testing.T) {
	t.Run("in memory", func(t *testing.T) { testIncrementalCheckpoints(t, false) })
	// With every micro-batch's state spilled, and restores spilling as they go.
	t.Run("spilled", func(t *testing.T) { testIncrementalCheckpoints(t, true) })
}

func testIncrementalCheckpoints(t *testing.T, spill bool) {
	const keys, b = 20000, 6000
	store := local.DirStore(t.TempDir())
	feed, want := totalsFeed(keys, b)
	res := pipelinetest.NewResult[ikv]()
	var sizes []int64
	var spilled int64
	var mu sync.Mutex
	run := func(crashAt int64) error {
		clock := newTickClock(100 * time.Millisecond)
		var r *local.Runner
		cfg := local.Config{Mode: local.Stream, Workers: 2, Now: clock.Now, EpochInterval: 200 * time.Millisecond,
			BatchRecords: 200, BatchWait: time.Millisecond, StopWhenIdle: 3 * time.Second, Checkpoints: store,
			FullCheckpointEvery: 1000,
			EpochHook: func(_ uint64, step string) {
				if step == "checkpointed" {
					mu.Lock()
					sizes = append(sizes, r.Stats().LastCheckpointBytes)
					mu.Unlock()
				}
			}}
		if spill {
			cfg.StateMemory, cfg.SpillDir = 1, t.TempDir()
		}
		r = local.New(cfg)
		err := r.Run(context.Background(), totalsJob(feed, crashAt, res))
		spilled += r.Stats().Spilled
		return err
	}
	require.ErrorContains(t, run(keys+b/3), "injected crash")
	full, last := sizes[0], sizes[len(sizes)-1]
	for _, sz := range sizes {
		full = max(full, sz)
	}
	t.Logf("checkpoint sizes of the first run: %v", sizes)
	require.Less(t, last*20, full, "a checkpoint after the state exists writes under 5%% of the full state")
	require.ErrorContains(t, run(b/3), "injected crash")
	require.NoError(t, run(0))
	if spill {
		require.Greater(t, spilled, int64(keys))
	}
	got := map[string]int64{}
	for _, kv := range res.Values() {
		got[kv.Key] += kv.Value
	}
	require.Equal(t, want, got)
}
