package main

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/w1"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
)

func w1Rows(t *testing.T, n int64, sliding bool, cfg local.Config, seed uint64, jitter bool) []string {
	t.Helper()
	p := pipeline.New()
	s := p.Root()
	var src pipeline.Source[w1.Event] = w1.Source{N: n, Parts: 5}
	if jitter {
		src = pipelinetest.Jitter(src, seed)
	}
	events := pipeline.Read(s, src, pipeline.OutOfOrderness(time.Duration(w1.MaxDelay)*time.Millisecond))
	window := "fixed"
	if sliding {
		window = "sliding"
	}
	rows := pipelinetest.Collect(s, WindowSum(s, events, window, cfg.Mode == local.Stream, time.Second))
	pipelinetest.Run(t, p, cfg)
	var out []string
	for _, e := range rows.Elements() {
		require.Equal(t, pipeline.OnTime, e.Pane.Timing, "seed %d: %v", seed, e)
		out = append(out, fmt.Sprintf("%s %d %d %d", e.Value.Key, e.Value.WindowStart, e.Value.Sum, e.Value.Count))
	}
	slices.Sort(out)
	return out
}

// W1 in stream mode, with random micro-batch sizes, random split progress, random worker counts and batch caps,
// gives exactly the batch rows (all on time), and the batch rows give the plain loop's checksum.
func TestW1StreamEqualsBatch(t *testing.T) {
	const n = 200_000
	for _, sliding := range []bool{false, true} {
		batch := w1Rows(t, n, sliding, local.Config{Workers: 2}, 0, false)
		want, rows := w1.PlainLoop(n, sliding)
		var got uint64
		for _, r := range batch {
			var k string
			var start, sum, count int64
			_, err := fmt.Sscanf(r, "%s %d %d %d", &k, &start, &sum, &count)
			require.NoError(t, err)
			got += w1.RowHash(k, start, sum)
		}
		require.Equal(t, want, got)
		require.Len(t, batch, rows)
		for i := range 4 {
			seed := rand.Uint64()
			rng := rand.New(rand.NewPCG(seed, 0))
			cfg := local.Config{Mode: local.Stream, Workers: 1 + rng.IntN(4), BatchRecords: 1 + rng.IntN(20000)}
			stream := w1Rows(t, n, sliding, cfg, seed, true)
			require.Equal(t, batch, stream, "run %d: seed %d (workers %d, batch %d, sliding %v): stream differs from batch", i, seed, cfg.Workers, cfg.BatchRecords, sliding)
		}
	}
}

// Windows are dropped once the watermark passes them, so state stays bounded by the keys of a few windows: in
// stream mode (estimated watermarks) and in batch mode too, since W1's source guarantees its disorder bound. A
// batch run over a source that guarantees nothing holds every window until the end — and all three agree.
func TestW1StateIsBounded(t *testing.T) {
	const n = 2_000_000 // 34 one-minute windows × 1000 keys
	run := func(mode local.Mode, src pipeline.Source[w1.Event]) (local.Stats, []string) {
		p := pipeline.New()
		s := p.Root()
		events := pipeline.Read(s, src, pipeline.OutOfOrderness(2*time.Second))
		res := pipelinetest.Collect(s, WindowSum(s, events, "fixed", mode == local.Stream, time.Second))
		st := pipelinetest.Run(t, p, local.Config{Workers: 2, Mode: mode, BatchRecords: 10000}).Stats()
		var rows []string
		for _, r := range res.Values() {
			rows = append(rows, fmt.Sprint(r))
		}
		slices.Sort(rows)
		return st, rows
	}
	gen := w1.Source{N: n, Parts: 2}
	stream, want := run(local.Stream, gen)
	batch, got := run(local.Batch, gen)
	require.Less(t, stream.MaxStateEntries, int64(5_000))
	require.Less(t, batch.MaxStateEntries, int64(5_000))
	require.Equal(t, want, got)
	// The same events from a source without watermark guarantees.
	elems := make([]pipelinetest.Timed[w1.Event], n)
	for i := range elems {
		e := w1.Gen(int64(i))
		elems[i] = pipelinetest.AtMillis(e, e.Time)
	}
	held, got := run(local.Batch, pipelinetest.Source(elems, 2))
	require.Greater(t, held.MaxStateEntries, int64(30_000))
	require.Equal(t, want, got)
}
