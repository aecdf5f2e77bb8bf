package local_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

// BenchmarkCheckpoint measures the checkpoint of a sum over keys distinct keys held in one open window (state =
// keys entries), and the restore of it: go test -run '^$' -bench Checkpoint ./runners/local/
func BenchmarkCheckpoint(b *testing.B) {
	for _, keys := range []int{1_000, 10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("keys=%d", keys), func(b *testing.B) {
			var ckpt, restore time.Duration
			var size int64
			for range b.N {
				dir := b.TempDir()
				build := func() *pipeline.Pipeline {
					feed := pipelinetest.NewFeed[ikv]("0", "1")
					for i := range keys {
						feed.Send(fmt.Sprint(i%2), pipelinetest.AtMillis(ikv{Key: fmt.Sprintf("key-%08d", i), Value: int64(i)}, 1000))
					}
					p := pipeline.New()
					s := p.Root()
					in := pipeline.Read(s, pipeline.Source[ikv](feed))
					pipelinetest.Collect(s, transforms.SumPerKey(s, windowing.Into(s, in, windowing.Fixed{Size: time.Hour})))
					return p
				}
				runOnce := func(ticks int) local.Stats {
					clock := newTickClock(time.Millisecond)
					ctx, cancel := context.WithCancel(context.Background())
					clock.after(time.Duration(ticks)*time.Millisecond, cancel)
					r := local.New(local.Config{Mode: local.Stream, Workers: 2, Now: clock.Now, EpochInterval: time.Hour, BatchWait: time.Millisecond,
						Checkpoints: local.DirStore(dir)})
					if err := r.Run(ctx, build()); err != context.Canceled {
						b.Fatal(err)
					}
					return r.Stats()
				}
				st := runOnce(200 + keys/1000) // read everything, then cancel: the cancel writes the checkpoint
				if st.Records != int64(keys) || st.Checkpoints != 1 {
					b.Fatalf("read %d records, %d checkpoints", st.Records, st.Checkpoints)
				}
				ckpt += st.CheckpointTime
				size = st.LastCheckpointBytes
				st = runOnce(5)
				restore += st.RestoreTime
			}
			b.ReportMetric(float64(ckpt.Milliseconds())/float64(b.N), "checkpoint-ms")
			b.ReportMetric(float64(size)/(1<<20), "checkpoint-MiB")
			b.ReportMetric(float64(restore.Milliseconds())/float64(b.N), "restore-ms")
		})
	}
}
