package engine

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/kappaflow/kappa/internal/exec"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/windowing"
)

type sumAgg struct{}

func (sumAgg) Create() int64              { return 0 }
func (sumAgg) Add(a int64, v int64) int64 { return a + v }
func (sumAgg) Merge(a, b int64) int64     { return a + b }
func (sumAgg) Extract(a int64) int64      { return a }

// BenchmarkSnapshotReduce measures a full snapshot and its restore of a sum per key over 1e6 string keys in one
// window, in process (no store, no runner): go test -run '^$' -bench SnapshotReduce ./internal/engine/
func BenchmarkSnapshotReduce(b *testing.B) {
	const keys = 1_000_000
	st := &windowing.Strategy{}
	newCons := func() (exec.Exchange, exec.Consumer, exec.Pusher[pipeline.KV[string, int64]]) {
		op := NewReduce[string, int64, int64, int64]("SumPerKey", st, sumAgg{}, true, false)
		op.SetName("SumPerKey")
		ex, err := op.NewExchange(1)
		if err != nil {
			b.Fatal(err)
		}
		w := &exec.Worker{Index: 0, Count: 1, Ctx: context.Background(), Now: time.Now, Logger: slog.Default(), TrackChanges: true}
		ins, cons, err := ex.Instantiate(w, []any{discard[pipeline.KV[string, int64]]{}})
		if err != nil {
			b.Fatal(err)
		}
		return ex, cons, ins[0].(exec.Pusher[pipeline.KV[string, int64]])
	}
	_, cons, in := newCons()
	for i := range keys {
		if err := in.Push(pipeline.Element[pipeline.KV[string, int64]]{Value: pipeline.KV[string, int64]{Key: fmt.Sprintf("key-%08d", i), Value: int64(i)},
			Window: pipeline.GlobalWindow}); err != nil {
			b.Fatal(err)
		}
	}
	if err := cons.(interface{ Flush() error }).Flush(); err != nil {
		b.Fatal(err)
	}
	if err := cons.Process(); err != nil {
		b.Fatal(err)
	}
	var snap bytes.Buffer
	var snapDur, restoreDur time.Duration
	b.ResetTimer()
	for range b.N {
		snap.Reset()
		t0 := time.Now()
		if _, err := cons.(exec.Snapshotter).Snapshot(&snap, true); err != nil {
			b.Fatal(err)
		}
		snapDur += time.Since(t0)
		ex2, _, _ := newCons()
		t0 = time.Now()
		if err := ex2.(exec.Restorer).Restore([][]io.Reader{{bytes.NewReader(snap.Bytes())}}); err != nil {
			b.Fatal(err)
		}
		restoreDur += time.Since(t0)
	}
	b.ReportMetric(float64(snapDur.Milliseconds())/float64(b.N), "snapshot-ms")
	b.ReportMetric(float64(restoreDur.Milliseconds())/float64(b.N), "restore-ms")
	b.ReportMetric(float64(snap.Len())/(1<<20), "MiB")
}
