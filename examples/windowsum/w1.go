package main

import (
	"context"
	"sync"
	"time"

	"github.com/kappaflow/kappa/internal/w1"
	"github.com/kappaflow/kappa/io/foreach"
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

// WindowSum is W1 as a kappa pipeline: window the events (fixed 1 min, sliding 5 min every 1 min, or global for
// W1-totals), sum and count the values per key and window, and emit one row per key and window. In stream mode
// the global window emits, every `every` of processing time, the totals added since for the keys with new data
// (discarding panes), and the rest at the end of the input; a key's rows then add up to its total (the checksum
// counts them so).
func WindowSum(s pipeline.Scope, events pipeline.PCollection[w1.Event], window string, stream bool, every time.Duration) pipeline.PCollection[w1.Row] {
	s = s.Scope("WindowSum")
	var windowed pipeline.PCollection[w1.Event]
	switch window {
	case "sliding":
		windowed = windowing.Into(s, events, windowing.Sliding{Size: 5 * time.Minute, Period: time.Minute})
	case "global":
		if stream {
			windowed = windowing.Into(s, events, windowing.Global{},
				windowing.WithTrigger(windowing.AfterWatermark{Early: windowing.Every(every)}))
		} else {
			windowed = windowing.Into(s, events, windowing.Global{})
		}
	default:
		windowed = windowing.Into(s, events, windowing.Fixed{Size: time.Minute})
	}
	kvs := transforms.Map(s, windowed, func(e w1.Event) transforms.KV[string, int64] {
		return transforms.KV[string, int64]{Key: e.Key, Value: e.Value}
	})
	sums := transforms.CombinePerKey(s, kvs, sumCountFn{}, transforms.Name("SumCount"))
	return transforms.MapWindowed(s.Scope("ToRow"), sums, func(kv transforms.KV[string, SumCount], w pipeline.Window) w1.Row {
		start := int64(w.Start)
		if w.IsGlobal() {
			start = 0 // W1-totals' rows have window start 0
		}
		return w1.Row{Key: kv.Key, WindowStart: start, Sum: kv.Value.Sum, Count: kv.Value.Count}
	})
}

// checksum folds rows into W1's order-independent checksum: each shard sums its rows (no lock), and adds them
// to the total at every epoch's flush. Through io/foreach it is at-least-once: a run restored from a checkpoint
// counts only the rows emitted after it (-to with -check-output gives the exactly-once rows of such runs).
type checksum struct {
	mu   sync.Mutex
	sum  uint64
	rows int64
}

func newChecksum() *checksum { return &checksum{} }

// shard returns the callbacks of one shard (foreach.WriteShards).
func (c *checksum) shard(context.Context, pipeline.Shard) (foreach.Shard[w1.Row], error) {
	var sum, rows uint64
	return foreach.Shard[w1.Row]{
		Each: func(_ context.Context, e pipeline.Element[w1.Row]) error {
			if e.Pane.Index > 0 {
				// A later (discarding) pane of the same key and window: its sum adds to the row's, and RowHash is
				// linear in the sum, so the checksum is that of one row holding the total.
				sum += uint64(e.Value.Sum)
				return nil
			}
			sum += w1.RowHash(e.Value.Key, e.Value.WindowStart, e.Value.Sum)
			rows++
			return nil
		},
		Flush: func(context.Context, pipeline.Epoch) error {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.sum += sum
			c.rows += int64(rows)
			sum, rows = 0, 0
			return nil
		},
	}, nil
}

func (c *checksum) result() (uint64, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sum, c.rows
}
