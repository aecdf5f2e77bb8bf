package main

import (
	"context"
	"encoding/binary"
	"sync"
	"time"

	"github.com/kappaflow/kappa/internal/w1"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

// SumCount is W1's aggregate: the sum and count of a key's values in a window.
type SumCount struct {
	Sum, Count int64
}

// sumCountFn combines values into SumCount.
type sumCountFn struct{}

func (sumCountFn) CreateAccumulator() SumCount { return SumCount{} }
func (sumCountFn) AddInput(a SumCount, v int64) SumCount {
	return SumCount{Sum: a.Sum + v, Count: a.Count + 1}
}
func (sumCountFn) MergeAccumulators(a, b SumCount) SumCount {
	return SumCount{Sum: a.Sum + b.Sum, Count: a.Count + b.Count}
}
func (sumCountFn) ExtractOutput(a SumCount) SumCount { return a }

// WindowSum is W1 as a kappa pipeline: window the events (fixed 1 min, or sliding 5 min every 1 min), sum and count
// the values per key and window, and emit one row per key and window.
func WindowSum(s pipeline.Scope, events pipeline.PCollection[w1.Event], sliding bool) pipeline.PCollection[w1.Row] {
	s = s.Scope("WindowSum")
	var fn windowing.WindowFn = windowing.Fixed{Size: time.Minute}
	if sliding {
		fn = windowing.Sliding{Size: 5 * time.Minute, Period: time.Minute}
	}
	windowed := windowing.Into(s, events, fn)
	kvs := transforms.Map(s, windowed, func(e w1.Event) transforms.KV[string, int64] {
		return transforms.KV[string, int64]{Key: e.Key, Value: e.Value}
	})
	sums := transforms.CombinePerKey(s, kvs, sumCountFn{}, transforms.Name("SumCount"))
	return transforms.ParDo(s, sums, transforms.DoFunc[transforms.KV[string, SumCount], w1.Row](
		func(_ context.Context, e pipeline.Element[transforms.KV[string, SumCount]], emit transforms.Emitter[w1.Row]) error {
			emit.Emit(w1.Row{Key: e.Value.Key, WindowStart: int64(e.Window.Start), Sum: e.Value.Value.Sum, Count: e.Value.Value.Count})
			return nil
		}), transforms.Name("ToRow"))
}

// checksumSink folds rows into W1's order-independent checksum, exactly once per committed epoch.
type checksumSink struct {
	mu       sync.Mutex
	checksum uint64
	rows     int64
	done     map[uint64]bool
	staged   map[uint64][2]uint64
	next     uint64
}

func newChecksumSink() *checksumSink {
	return &checksumSink{done: map[uint64]bool{}, staged: map[uint64][2]uint64{}}
}

func (c *checksumSink) Name() string { return "checksum" }

func (c *checksumSink) Open(context.Context, pipeline.Shard) (pipeline.SinkWriter[w1.Row], error) {
	return &checksumWriter{c: c}, nil
}

func (c *checksumSink) result() (uint64, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.checksum, c.rows
}

type checksumWriter struct {
	c         *checksumSink
	sum, rows uint64
}

func (w *checksumWriter) Write(_ context.Context, rows []pipeline.Element[w1.Row]) error {
	for _, r := range rows {
		w.sum += w1.RowHash(r.Value.Key, r.Value.WindowStart, r.Value.Sum)
	}
	w.rows += uint64(len(rows))
	return nil
}

func (w *checksumWriter) Prepare(context.Context, pipeline.Epoch) ([]byte, error) {
	w.c.mu.Lock()
	id := w.c.next
	w.c.next++
	w.c.staged[id] = [2]uint64{w.sum, w.rows}
	w.c.mu.Unlock()
	w.sum, w.rows = 0, 0
	return binary.BigEndian.AppendUint64(nil, id), nil
}

func (w *checksumWriter) Commit(_ context.Context, tok []byte) error {
	id := binary.BigEndian.Uint64(tok)
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	if w.c.done[id] {
		return nil
	}
	w.c.done[id] = true
	st := w.c.staged[id]
	w.c.checksum += st[0]
	w.c.rows += int64(st[1])
	delete(w.c.staged, id)
	return nil
}

func (w *checksumWriter) Close(context.Context) error { return nil }
