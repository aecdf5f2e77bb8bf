package foreach_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/io/foreach"
	"github.com/kappaflow/kappa/io/generate"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

// numbers reads 0 … n-1, event time i seconds, in 3 splits.
func numbers(s pipeline.Scope, n int64) pipeline.PCollection[int64] {
	return generate.Read(s, generate.Config[int64]{Count: n, Splits: 3,
		Func: func(i int64) (int64, pipeline.Time) { return i, pipeline.Time(i * 1000) }})
}

func TestWriteCallsTheFunctionForEveryValue(t *testing.T) {
	p := pipeline.New()
	s := p.Root()
	var mu sync.Mutex
	seen := map[int64]int{}
	foreach.Write(s, numbers(s, 1000), func(_ context.Context, v int64) error {
		mu.Lock()
		defer mu.Unlock()
		seen[v]++
		return nil
	})
	require.NoError(t, local.New(local.Config{Workers: 3, BatchRecords: 64}).Run(context.Background(), p))
	require.Len(t, seen, 1000)
	for v, n := range seen {
		require.Equal(t, 1, n, "value %d", v)
	}
}

func TestWriteElementsSeesWindowsAndPanes(t *testing.T) {
	p := pipeline.New()
	s := p.Root()
	perMinute := windowing.Into(s, numbers(s, 300), windowing.Fixed{Size: time.Minute})
	sums := transforms.SumPerKey(s, transforms.KeyBy(s, perMinute, func(int64) string { return "k" }))
	var mu sync.Mutex
	got := map[pipeline.Window]int64{}
	foreach.WriteElements(s, sums, func(_ context.Context, e pipeline.Element[transforms.KV[string, int64]]) error {
		mu.Lock()
		defer mu.Unlock()
		require.Equal(t, pipeline.OnTime, e.Pane.Timing)
		got[e.Window] = e.Value.Value
		return nil
	})
	require.NoError(t, local.New(local.Config{Workers: 2}).Run(context.Background(), p))
	require.Len(t, got, 5)
	require.Equal(t, int64(59*60/2), got[pipeline.Window{Start: 0, End: 60000}])
}

// shardLog records what the callbacks of WriteShards saw.
type shardLog struct {
	mu      sync.Mutex
	opened  []pipeline.Shard
	busy    []atomic.Bool
	each    int64
	flushes map[int][]pipeline.Epoch
	closed  map[int]int
}

func TestWriteShardsCallbacksPerShardAndEpoch(t *testing.T) {
	const workers = 3
	for _, mode := range []local.Mode{local.Batch, local.Stream} {
		t.Run(mode.String(), func(t *testing.T) {
			p := pipeline.New()
			s := p.Root()
			lg := &shardLog{busy: make([]atomic.Bool, workers), flushes: map[int][]pipeline.Epoch{}, closed: map[int]int{}}
			foreach.WriteShards(s, numbers(s, 5000), func(_ context.Context, sh pipeline.Shard) (foreach.Shard[int64], error) {
				lg.mu.Lock()
				lg.opened = append(lg.opened, sh)
				lg.mu.Unlock()
				var buffered int64 // per-shard state, no lock: calls on one shard never overlap
				enter := func() func() {
					require.False(t, lg.busy[sh.Index].Swap(true), "two calls at once on shard %d", sh.Index)
					return func() { lg.busy[sh.Index].Store(false) }
				}
				return foreach.Shard[int64]{
					Each: func(context.Context, pipeline.Element[int64]) error {
						defer enter()()
						buffered++
						return nil
					},
					Flush: func(_ context.Context, e pipeline.Epoch) error {
						defer enter()()
						lg.mu.Lock()
						defer lg.mu.Unlock()
						lg.each += buffered
						buffered = 0
						lg.flushes[sh.Index] = append(lg.flushes[sh.Index], e)
						return nil
					},
					Close: func(context.Context) error {
						lg.mu.Lock()
						defer lg.mu.Unlock()
						lg.closed[sh.Index]++
						return nil
					},
				}, nil
			}, foreach.Name("Audit"))
			cfg := local.Config{Workers: workers, Mode: mode, BatchRecords: 100, EpochInterval: time.Millisecond}
			require.NoError(t, local.New(cfg).Run(context.Background(), p))
			require.Len(t, lg.opened, workers)
			require.Equal(t, int64(5000), lg.each, "every element was flushed once")
			for sh := range workers {
				require.Equal(t, 1, lg.closed[sh])
				fl := lg.flushes[sh]
				require.NotEmpty(t, fl)
				require.True(t, fl[len(fl)-1].Final, "the last flush is the final epoch")
				for i := 1; i < len(fl); i++ {
					require.Equal(t, fl[i-1].ID+1, fl[i].ID, "one flush per epoch, in order")
				}
				if mode == local.Stream {
					require.Greater(t, len(fl), 1, "stream mode flushes every epoch")
				}
			}
		})
	}
}

func TestCallbackErrorsFailTheRunNamingSinkAndShard(t *testing.T) {
	p := pipeline.New()
	s := p.Root()
	foreach.Write(s, numbers(s, 100), func(_ context.Context, v int64) error {
		if v == 42 {
			return errors.New("cannot store 42")
		}
		return nil
	}, foreach.Name("Store"))
	err := local.New(local.Config{Workers: 1}).Run(context.Background(), p)
	require.ErrorContains(t, err, "Store")
	require.ErrorContains(t, err, "shard 0: cannot store 42")

	p = pipeline.New()
	s = p.Root()
	foreach.WriteShards(s, numbers(s, 10), func(_ context.Context, sh pipeline.Shard) (foreach.Shard[int64], error) {
		return foreach.Shard[int64]{}, nil
	})
	require.ErrorContains(t, local.New(local.Config{Workers: 1}).Run(context.Background(), p), "shard 0: Shard.Each is nil")

	p = pipeline.New()
	s = p.Root()
	foreach.Write[int64](s, numbers(s, 10), nil)
	require.ErrorContains(t, p.Err(), "ForEach: nil function")
}

// TestAtLeastOnceAcrossARestore shows the guarantee the package documents: a run that fails at an epoch's flush
// and is restored from its last checkpoint hands the epochs after it to the callbacks again.
func TestAtLeastOnceAcrossARestore(t *testing.T) {
	store := local.DirStore(t.TempDir())
	var mu sync.Mutex
	seen := map[int64]int{}
	run := func(failAtEpoch uint64) error {
		p := pipeline.New()
		s := p.Root()
		foreach.WriteShards(s, numbers(s, 3000), func(context.Context, pipeline.Shard) (foreach.Shard[int64], error) {
			return foreach.Shard[int64]{
				Each: func(_ context.Context, e pipeline.Element[int64]) error {
					mu.Lock()
					defer mu.Unlock()
					seen[e.Value]++
					return nil
				},
				Flush: func(_ context.Context, e pipeline.Epoch) error {
					if e.ID == failAtEpoch {
						return errors.New("injected: the downstream service is down")
					}
					return nil
				},
			}, nil
		})
		cfg := local.Config{Workers: 2, BatchRecords: 100, Checkpoints: store, EpochInterval: time.Nanosecond}
		return local.New(cfg).Run(context.Background(), p)
	}
	require.ErrorContains(t, run(3), "the downstream service is down")
	require.NoError(t, run(1<<62))
	total := 0
	for i := range int64(3000) {
		require.GreaterOrEqual(t, seen[i], 1, "value %d was lost", i)
		total += seen[i]
	}
	require.Greater(t, total, 3000, "the failed epoch was replayed: at least once, not exactly once")
}
