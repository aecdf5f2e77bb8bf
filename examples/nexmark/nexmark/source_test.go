package nexmark

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

// readSplit reads a split to its end in batches of at most max records, reopening it at its position after every
// batch, and checks each batch's watermark guarantee against the events that follow.
func readSplit(t *testing.T, src *Source, sp pipeline.Split, max int) []Event {
	t.Helper()
	ctx := context.Background()
	var pos []byte
	var all []Event
	var hints []pipeline.Time
	for {
		r, err := src.Open(ctx, sp, pos)
		require.NoError(t, err)
		var b pipeline.Batch[Event]
		err = r.ReadBatch(ctx, &b, pipeline.Limits{MaxRecords: max})
		for i, e := range b.Values {
			require.Equal(t, pipeline.Time(e.DateTime), b.Times[i])
		}
		for _, h := range hints {
			for _, e := range b.Values {
				require.GreaterOrEqual(t, e.DateTime, int64(h), "an event older than an earlier watermark guarantee")
			}
		}
		all = append(all, b.Values...)
		pos = slices.Clone(r.Position())
		require.NoError(t, r.Close())
		if errors.Is(err, pipeline.ErrEndOfInput) {
			return all
		}
		require.NoError(t, err)
		hints = append(hints[:0], b.Watermark)
	}
}

// Any number of splits together generate every event exactly once, each split in generation order, resuming
// exactly at its reported positions, with watermark guarantees that hold.
func TestSourceSplitsCoverEveryEventOnce(t *testing.T) {
	cfg := DefaultConfig(3001)
	cfg.OutOfOrderGroupSize = 50
	g, err := NewGenerator(cfg)
	require.NoError(t, err)
	for _, k := range []int{1, 3, 8} {
		src, err := NewSource(cfg, SourceConfig{Splits: k})
		require.NoError(t, err)
		require.True(t, src.Bounded())
		splits, err := src.Splits(context.Background())
		require.NoError(t, err)
		require.Len(t, splits, k)
		seen := map[string]int{}
		for j, sp := range splits {
			evs := readSplit(t, src, sp, 1+j*37)
			for n, e := range evs {
				require.Equal(t, g.Event(int64(j+n*k)), e, "split %d event %d", j, n)
				seen[e.String()]++
			}
		}
		require.Len(t, seen, int(g.Len()), "%d splits", k)
	}
	src, err := NewSource(cfg, SourceConfig{Splits: 2})
	require.NoError(t, err)
	_, err = src.Open(context.Background(), pipeline.Split{ID: "2/2"}, nil)
	require.ErrorContains(t, err, `bad split "2/2"`)
	_, err = src.Open(context.Background(), pipeline.Split{ID: "0/2"}, []byte{0, 0, 0, 0, 0, 0, 0, 3})
	require.ErrorContains(t, err, "position 3 is not one of its events")
}

// A rate-limited source releases each event when it is due in wall-clock time (Start plus its event time's
// offset), returns what is due so far, and waits at most MaxWait for the next one.
func TestSourceRateLimited(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	cfg := DefaultConfig(0) // 10 events per ms
	src, err := NewSource(cfg, SourceConfig{Splits: 2, RateLimited: true, Now: clock})
	require.NoError(t, err)
	require.False(t, src.Bounded())
	ctx := context.Background()
	r, err := src.Open(ctx, pipeline.Split{ID: "1/2"}, nil)
	require.NoError(t, err)
	var b pipeline.Batch[Event]
	require.NoError(t, r.ReadBatch(ctx, &b, pipeline.Limits{MaxRecords: 1000, MaxWait: time.Millisecond}))
	require.Equal(t, 5, b.Len(), "events 1, 3, 5, 7, 9 are due at start (0 ms)")
	advance(3 * time.Millisecond)
	b.Reset()
	require.NoError(t, r.ReadBatch(ctx, &b, pipeline.Limits{MaxRecords: 1000, MaxWait: time.Millisecond}))
	require.Equal(t, 15, b.Len(), "events 11..39 are due by 3 ms")
	require.Equal(t, DefaultBaseTime.UnixMilli()+3, b.Values[b.Len()-1].DateTime)
	require.Equal(t, pipeline.Time(DefaultBaseTime.UnixMilli()+4), b.Watermark)
	b.Reset()
	start := time.Now()
	require.NoError(t, r.ReadBatch(ctx, &b, pipeline.Limits{MaxRecords: 1000, MaxWait: 20 * time.Millisecond}))
	require.Equal(t, 0, b.Len(), "nothing is due until the clock moves")
	require.GreaterOrEqual(t, time.Since(start), 20*time.Millisecond, "it waited MaxWait")
	advance(time.Hour)
	b.Reset()
	require.NoError(t, r.ReadBatch(ctx, &b, pipeline.Limits{MaxRecords: 1000, MaxWait: time.Millisecond}))
	require.Equal(t, 1000, b.Len(), "a backlog is read MaxRecords at a time")
}

// Through the runner, in batch and stream mode with random micro-batches, the source delivers every event once
// with its event time, and windows fire as the watermark passes them: a count per second of event time equals
// the plain count.
func TestSourceInPipeline(t *testing.T) {
	cfg := DefaultConfig(40_000) // 4 s of event time
	cfg.OutOfOrderGroupSize = 100
	g, err := NewGenerator(cfg)
	require.NoError(t, err)
	want := map[string]int64{}
	for i := range g.Len() {
		e := g.Event(i)
		want[fmt.Sprintf("%v %d", e.Type, e.DateTime/1000)]++
	}
	for _, mode := range []local.Mode{local.Batch, local.Stream} {
		seed := uint64(time.Now().UnixNano())
		p := pipeline.New()
		s := p.Root()
		src, err := NewSource(cfg, SourceConfig{Splits: 3})
		require.NoError(t, err)
		events := pipeline.Read(s, pipelinetest.Jitter[Event](src, seed), src.ReadOptions()...)
		res := pipelinetest.Collect(s, countPerSecond(s, events))
		st := pipelinetest.Run(t, p, local.Config{Mode: mode, Workers: 2, BatchRecords: 500}).Stats()
		got := map[string]int64{}
		for _, e := range res.Elements() {
			require.Equal(t, pipeline.OnTime, e.Pane.Timing, "seed %d", seed)
			got[e.Value.Key] += e.Value.Value
		}
		require.Equal(t, want, got, "mode %v seed %d", mode, seed)
		require.Empty(t, st.Late, "seed %d", seed)
		require.Less(t, st.MaxStateEntries, int64(10), "windows fire as the watermark passes them (seed %d)", seed)
	}
}

// countPerSecond counts events per type and second of event time, keyed "type second".
func countPerSecond(s pipeline.Scope, events pipeline.PCollection[Event]) pipeline.PCollection[transforms.KV[string, int64]] {
	w := windowing.Into(s, events, windowing.Fixed{Size: time.Second})
	keys := transforms.Map(s, w, func(e Event) string { return fmt.Sprintf("%v %d", e.Type, e.DateTime/1000) })
	return transforms.Count(s, keys)
}
