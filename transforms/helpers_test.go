package transforms_test

import (
	"cmp"
	"context"
	"iter"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
)

// runMode is one runner configuration every pipeline test runs under.
type runMode struct {
	name string
	cfg  local.Config
}

var quiet = slog.New(slog.DiscardHandler)

// allModes are the configurations of forEachMode: batch on 1, 2 and 4 workers, and stream mode with tiny
// micro-batches, so that watermarks advance (and windows fire) in the middle of the input.
var allModes = []runMode{
	{"batch/workers=1", local.Config{Workers: 1, Logger: quiet}},
	{"batch/workers=2", local.Config{Workers: 2, Logger: quiet}},
	{"batch/workers=4", local.Config{Workers: 4, Logger: quiet}},
	{"stream/workers=1", local.Config{Workers: 1, Mode: local.Stream, BatchRecords: 2, Logger: quiet}},
	{"stream/workers=4", local.Config{Workers: 4, Mode: local.Stream, BatchRecords: 1, Logger: quiet}},
}

// batchModes are the batch configurations, for inputs that are out of order (stream mode would rightly drop
// late data) or have no event times.
var batchModes = allModes[:3]

// forEachMode builds a fresh pipeline with build for each mode, runs it and checks its assertions. Stream runs
// must not drop anything as late: with each split in event-time order, nothing is behind the watermark.
func forEachMode(t *testing.T, modes []runMode, build func(s pipeline.Scope)) {
	t.Helper()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			p := pipeline.New()
			build(p.Root())
			r := pipelinetest.Run(t, p, m.cfg)
			require.Empty(t, r.Stats().Late, "late data dropped")
		})
	}
}

// runErr builds a pipeline and returns the error of running it on cfg, failing the test if the run takes more
// than 20 s (nothing may hang).
func runErr(t *testing.T, cfg local.Config, build func(s pipeline.Scope)) error {
	t.Helper()
	p := pipeline.New()
	build(p.Root())
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := local.New(cfg).Run(ctx, p)
	require.NotErrorIs(t, err, context.DeadlineExceeded, "the run hung")
	return err
}

// win is the window [start, end) in milliseconds.
func win(start, end int64) pipeline.Window {
	return pipeline.Window{Start: pipeline.Time(start), End: pipeline.Time(end)}
}

// fired is the element a grouping emits for window w in its only, on-time pane: timestamp end - 1 ms.
func fired[T any](v T, w pipeline.Window) pipeline.Element[T] {
	return pipeline.Element[T]{Value: v, Time: w.MaxTimestamp(), Window: w,
		Pane: pipeline.Pane{Timing: pipeline.OnTime, First: true, Last: true}}
}

// timed builds CreateTimed inputs from values and millisecond times.
func timed[T any](v T, ms int64) pipelinetest.Timed[T] { return pipelinetest.AtMillis(v, ms) }

// sortedGroups turns GroupByKey's iterators into sorted slices, so that groups compare exactly.
func sortedGroups[K comparable, V cmp.Ordered](s pipeline.Scope, col pipeline.PCollection[transforms.KV[K, iter.Seq[V]]]) pipeline.PCollection[transforms.KV[K, []V]] {
	return transforms.Map(s, col, func(kv transforms.KV[K, iter.Seq[V]]) transforms.KV[K, []V] {
		return transforms.Pair(kv.Key, slices.Sorted(kv.Value))
	})
}

// firstLine is the first line of an error message (panic errors carry a stack after it).
func firstLine(err error) string {
	if err == nil {
		return "<nil>"
	}
	line, _, _ := strings.Cut(err.Error(), "\n")
	return line
}

func pair[K comparable, V any](k K, v V) transforms.KV[K, V] { return transforms.Pair(k, v) }
