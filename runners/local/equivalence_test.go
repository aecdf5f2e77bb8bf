package local_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/w1"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

var silent = slog.New(slog.DiscardHandler)

// w1Sum is W1's aggregate.
type w1Sum struct{ Sum, Count int64 }

type w1SumFn struct{}

func (w1SumFn) CreateAccumulator() w1Sum { return w1Sum{} }
func (w1SumFn) AddInput(a w1Sum, v int64) w1Sum {
	return w1Sum{a.Sum + v, a.Count + 1}
}
func (w1SumFn) MergeAccumulators(a, b w1Sum) w1Sum { return w1Sum{a.Sum + b.Sum, a.Count + b.Count} }
func (w1SumFn) ExtractOutput(a w1Sum) w1Sum        { return a }

// checksumSink folds W1 rows into the order-independent checksum, once per committed token.
type checksumSink struct {
	mu        sync.Mutex
	sum, rows uint64
	staged    map[uint64][2]uint64
	next      uint64
}

func (c *checksumSink) Name() string { return "checksum" }
func (c *checksumSink) Open(context.Context, pipeline.Shard) (pipeline.SinkWriter[w1.Row], error) {
	return &checksumWriter{c: c}, nil
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
	defer w.c.mu.Unlock()
	if w.c.staged == nil {
		w.c.staged = map[uint64][2]uint64{}
	}
	id := w.c.next
	w.c.next++
	w.c.staged[id] = [2]uint64{w.sum, w.rows}
	w.sum, w.rows = 0, 0
	return binary.BigEndian.AppendUint64(nil, id), nil
}

func (w *checksumWriter) Commit(_ context.Context, tok []byte) error {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	id := binary.BigEndian.Uint64(tok)
	if st, ok := w.c.staged[id]; ok {
		w.c.sum += st[0]
		w.c.rows += st[1]
		delete(w.c.staged, id)
	}
	return nil
}

func (w *checksumWriter) Close(context.Context) error { return nil }

// w1Pipeline is W1 (internal/w1): the windowed sum per key of n generated events, into a checksum sink.
func w1Pipeline(n int64, parts int, sliding bool) (*pipeline.Pipeline, *checksumSink) {
	p := pipeline.New()
	s := p.Root()
	events := pipeline.Read(s, w1.Source{N: n, Parts: parts}, pipeline.OutOfOrderness(time.Duration(w1.MaxDelay)*time.Millisecond))
	var fn windowing.WindowFn = windowing.Fixed{Size: time.Minute}
	if sliding {
		fn = windowing.Sliding{Size: 5 * time.Minute, Period: time.Minute}
	}
	kvs := transforms.Map(s, windowing.Into(s, events, fn), func(e w1.Event) transforms.KV[string, int64] {
		return transforms.Pair(e.Key, e.Value)
	})
	sums := transforms.CombinePerKey(s, kvs, w1SumFn{})
	rows := transforms.ParDo(s, sums, transforms.DoFunc[transforms.KV[string, w1Sum], w1.Row](
		func(_ context.Context, e pipeline.Element[transforms.KV[string, w1Sum]], emit transforms.Emitter[w1.Row]) error {
			emit.Emit(w1.Row{Key: e.Value.Key, WindowStart: int64(e.Window.Start), Sum: e.Value.Value.Sum, Count: e.Value.Value.Count})
			return nil
		}))
	sink := &checksumSink{}
	pipeline.Write(s, rows, pipeline.Sink[w1.Row](sink))
	return p, sink
}

// The same pipeline gives the same results in batch and in stream mode, on 1, 2 and 4 workers, with large and
// tiny micro-batches: the checksum and row count of W1 equal the plain Go loop's, and stream runs drop nothing
// (the events are at most W1's MaxDelay out of order, the bound given to Read).
func TestBatchAndStreamGiveTheSameResults(t *testing.T) {
	const n = 30_000
	for _, sliding := range []bool{false, true} {
		wantSum, wantRows := w1.PlainLoop(n, sliding)
		for _, cfg := range []local.Config{
			{Workers: 1},
			{Workers: 2},
			{Workers: 4, BatchRecords: 1000},
			{Workers: 1, Mode: local.Stream, BatchRecords: 500},
			{Workers: 2, Mode: local.Stream, BatchRecords: 97},
			{Workers: 4, Mode: local.Stream, BatchRecords: 2000},
		} {
			t.Run(fmt.Sprintf("sliding=%v/%v/workers=%d/batch=%d", sliding, cfg.Mode, cfg.Workers, cfg.BatchRecords), func(t *testing.T) {
				p, sink := w1Pipeline(n, 8, sliding)
				cfg.Logger = silent
				r := local.New(cfg)
				require.NoError(t, r.Run(context.Background(), p))
				require.Equal(t, w1.FormatChecksum(wantSum), w1.FormatChecksum(sink.sum))
				require.Equal(t, uint64(wantRows), sink.rows)
				st := r.Stats()
				require.Empty(t, st.Late)
				require.Equal(t, int64(n), st.Records)
				require.Equal(t, pipeline.MaxTime, st.Watermark)
				if cfg.Mode == local.Stream && cfg.BatchRecords < 1000 {
					require.Greater(t, st.Supersteps, int64(n/8/cfg.BatchRecords), "stream runs in many micro-batches")
				}
			})
		}
	}
}
