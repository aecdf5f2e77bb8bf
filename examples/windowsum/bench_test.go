package main

import (
	"context"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/kappaflow/kappa/internal/w1"
	"github.com/kappaflow/kappa/io/foreach"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/runners/local"
)

// BenchmarkW1PerElement runs W1 (fixed windows, batch) through kappa on one worker and the plain loop, alternately
// in the same process, and reports each one's nanoseconds per event and their ratio (plain / kappa, the median of
// the pairs: on a shared machine the pairs see the same load). -benchmem's allocs/op counts the kappa runs'
// allocations per event (the plain loop allocates only its map).
//
//	go test -run '^$' -bench W1PerElement -benchmem -count 3 ./examples/windowsum/
func BenchmarkW1PerElement(b *testing.B) {
	const n = 2_000_000
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	var kappaNs, plainNs, ratios []float64
	b.ReportAllocs()
	b.ResetTimer()
	b.StopTimer()
	for range b.N {
		b.StartTimer()
		t0 := time.Now()
		p := pipeline.New()
		s := p.Root()
		rows := WindowSum(s, w1Events(s, n, 4, 1000), "fixed", false, 0)
		sum := newChecksum()
		foreach.WriteShards(s, rows, sum.shard)
		if err := local.New(local.Config{Workers: 1, Logger: logger(options{})}).Run(context.Background(), p); err != nil {
			b.Fatal(err)
		}
		k := time.Since(t0)
		b.StopTimer()
		t1 := time.Now()
		want, _ := w1.PlainLoop(n, false)
		pl := time.Since(t1)
		if got, _ := sum.result(); got != want {
			b.Fatalf("checksum %x, the plain loop's %x", got, want)
		}
		kappaNs = append(kappaNs, float64(k.Nanoseconds())/n)
		plainNs = append(plainNs, float64(pl.Nanoseconds())/n)
		ratios = append(ratios, float64(pl)/float64(k))
	}
	med := func(x []float64) float64 { x = slices.Clone(x); slices.Sort(x); return x[len(x)/2] }
	b.ReportMetric(med(kappaNs), "kappa-ns/event")
	b.ReportMetric(med(plainNs), "plain-ns/event")
	b.ReportMetric(med(ratios), "ratio")
	b.ReportMetric(0, "ns/op")
}
