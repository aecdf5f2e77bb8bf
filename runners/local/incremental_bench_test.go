package local_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
)

// BenchmarkIncrementalCheckpoint measures incremental checkpoints of a large state that changes little: a sum per
// key in one open window over KAPPA_BENCH_KEYS keys (default 1e6), then 5 epochs each changing 1% of the keys. It
// reports the full checkpoint (size, time), the delta checkpoints of the 1%-epochs (mean size and time, size as a
// share of the full one) and the restore of the chain (full + 5 deltas):
//
//	go test -run '^$' -bench IncrementalCheckpoint -benchtime 1x ./runners/local/
func BenchmarkIncrementalCheckpoint(b *testing.B) {
	keys := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("KAPPA_BENCH_KEYS")); err == nil && v > 0 {
		keys = v
	}
	const epochs = 5
	changed := keys / 100
	for range b.N {
		feed := pipelinetest.NewFeed[ikv]()
		t0 := int64(1_000_000)
		for i := range keys {
			feed.Send(fmt.Sprint(i%2), pipelinetest.AtMillis(ikv{Key: fmt.Sprintf("key-%08d", i), Value: 1}, t0+int64(i)))
		}
		for i := range epochs * changed {
			k := (i * 97) % keys // spread over the key space
			feed.Send(fmt.Sprint(i%2), pipelinetest.AtMillis(ikv{Key: fmt.Sprintf("key-%08d", k), Value: 1}, t0+int64(keys+i)))
		}
		store := local.DirStore(b.TempDir())
		type chk struct {
			bytes int64
			dur   time.Duration
		}
		var (
			mu     sync.Mutex
			chks   []chk
			lastCk time.Duration
		)
		run := func(crashAt int64) *local.Runner {
			clock := newTickClock(100 * time.Millisecond)
			var r *local.Runner
			r = local.New(local.Config{Mode: local.Stream, Workers: 2, Now: clock.Now, EpochInterval: 50 * time.Millisecond,
				BatchRecords: changed, BatchWait: time.Millisecond, StopWhenIdle: 3 * time.Second, Checkpoints: store,
				FullCheckpointEvery: 1000,
				EpochHook: func(_ uint64, step string) {
					if step != "checkpointed" {
						return
					}
					mu.Lock()
					st := r.Stats()
					chks = append(chks, chk{st.LastCheckpointBytes, st.CheckpointTime - lastCk})
					lastCk = st.CheckpointTime
					mu.Unlock()
				}})
			err := r.Run(context.Background(), totalsJob(feed, crashAt, pipelinetest.NewResult[ikv]()))
			if crashAt > 0 && err == nil {
				b.Fatal("the run did not crash")
			}
			return r
		}
		run(int64(keys + epochs*changed)) // crash at the last element: the checkpoints so far remain
		// The largest checkpoint is the full one (phase A); the last epochs' are deltas of 1% changes.
		full := chks[0]
		for _, c := range chks {
			if c.bytes > full.bytes {
				full = c
			}
		}
		tail := chks[max(0, len(chks)-epochs+1):]
		var dBytes int64
		var dDur time.Duration
		for _, c := range tail {
			dBytes += c.bytes
			dDur += c.dur
		}
		r := run(1) // restores the chain, then crashes at once
		b.ReportMetric(float64(full.bytes)/(1<<20), "full-MiB")
		b.ReportMetric(float64(full.dur.Milliseconds()), "full-ms")
		b.ReportMetric(float64(dBytes)/float64(len(tail))/(1<<20), "delta-MiB")
		b.ReportMetric(float64(dDur.Milliseconds())/float64(len(tail)), "delta-ms")
		b.ReportMetric(100*float64(dBytes)/float64(len(tail))/float64(full.bytes), "delta-%-of-full")
		b.ReportMetric(float64(r.Stats().RestoreTime.Milliseconds()), "restore-ms")
	}
}
