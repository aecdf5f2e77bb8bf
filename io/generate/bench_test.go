package generate_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/kappaflow/kappa/internal/w1"
	"github.com/kappaflow/kappa/io/foreach"
	"github.com/kappaflow/kappa/io/generate"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

// BenchmarkW1 runs W1 (1e6 events, fixed one-minute windows, sum per key; 1 worker, batch mode) over events from
// internal/w1's hand-written source and from io/generate with w1.Gen as Func and W1's disorder bound as the
// promise: what the public generator costs over a source written for the workload. Reports events/s.
//
//	go test -run '^$' -bench BenchmarkW1 -benchtime 5x -count 3 ./io/generate/
func BenchmarkW1(b *testing.B) {
	const n = 1_000_000
	bound := time.Duration(w1.MaxDelay) * time.Millisecond
	for _, tc := range []struct {
		name string
		read func(s pipeline.Scope) pipeline.PCollection[w1.Event]
	}{
		{"w1-source", func(s pipeline.Scope) pipeline.PCollection[w1.Event] {
			return pipeline.Read(s, w1.Source{N: n, Parts: 4}, pipeline.OutOfOrderness(bound))
		}},
		{"generate", func(s pipeline.Scope) pipeline.PCollection[w1.Event] {
			return generate.Read(s, generate.Config[w1.Event]{Count: n, Splits: 4, OutOfOrderness: bound,
				Func: func(i int64) (w1.Event, pipeline.Time) { e := w1.Gen(i); return e, pipeline.Time(e.Time) }})
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				p := pipeline.New()
				s := p.Root()
				events := windowing.Into(s, tc.read(s), windowing.Fixed{Size: time.Minute})
				kvs := transforms.Map(s, events, func(e w1.Event) transforms.KV[string, int64] { return transforms.Pair(e.Key, e.Value) })
				foreach.Write(s, transforms.SumPerKey(s, kvs), func(context.Context, transforms.KV[string, int64]) error { return nil })
				if err := local.New(local.Config{Workers: 1, Logger: slog.New(slog.DiscardHandler)}).Run(context.Background(), p); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
