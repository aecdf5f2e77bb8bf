package local_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/kappaflow/kappa/internal/w1"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

// BenchmarkStatusPage measures what serving the status page costs W1 in stream mode: each iteration runs the same
// job without, then with Config.StatusAddr (alternated, because the machine may be shared), and the benchmark
// reports both rates and their ratio. Figures in docs/benchmarks.md ("Status page"):
//
//	go test -run '^$' -bench StatusPage -count 10 -cpu 2 ./runners/local/
func BenchmarkStatusPage(b *testing.B) {
	const n = 2_000_000
	run := func(addr string) time.Duration {
		p := pipeline.New()
		s := p.Root()
		events := pipeline.Read[w1.Event](s, w1.Source{N: n, Parts: 8})
		windowed := windowing.Into(s, events, windowing.Fixed{Size: time.Minute})
		kvs := transforms.Map(s, windowed, func(e w1.Event) transforms.KV[string, int64] {
			return transforms.KV[string, int64]{Key: e.Key, Value: e.Value}
		})
		pipelinetest.Collect(s, transforms.SumPerKey(s, kvs))
		r := local.New(local.Config{Mode: local.Stream, StatusAddr: addr, Logger: slog.New(slog.DiscardHandler)})
		t0 := time.Now()
		if err := r.Run(context.Background(), p); err != nil {
			b.Fatal(err)
		}
		took := time.Since(t0)
		if r.Stats().Records != n {
			b.Fatalf("read %d events", r.Stats().Records)
		}
		return took
	}
	var off, on time.Duration
	for range b.N {
		off += run("")
		on += run("127.0.0.1:0")
	}
	b.ReportMetric(float64(n)*float64(b.N)/off.Seconds(), "events/s-off")
	b.ReportMetric(float64(n)*float64(b.N)/on.Seconds(), "events/s-on")
	b.ReportMetric(off.Seconds()/on.Seconds(), "on/off")
}
