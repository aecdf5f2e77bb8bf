package local_test

import (
	"bytes"
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

func TestModeString(t *testing.T) {
	require.Equal(t, "batch", local.Batch.String())
	require.Equal(t, "stream", local.Stream.String())
	require.Equal(t, local.Batch, local.Config{}.Mode, "batch is the default")
}

// The zero Config runs a pipeline (batch mode, one worker per core).
func TestZeroConfig(t *testing.T) {
	p := pipeline.New()
	s := p.Root()
	pipelinetest.Equals(s, transforms.Count(s, pipelinetest.Create(s, "a", "b", "a")), transforms.Pair("a", int64(2)), transforms.Pair("b", int64(1)))
	r := local.New(local.Config{Logger: silent})
	require.NoError(t, r.Run(context.Background(), p))
	require.NoError(t, pipelinetest.Verify(p))
	st := r.Stats()
	require.Equal(t, int64(3), st.Records)
	require.Equal(t, int64(3), st.Bytes, "the memory source counts one byte per record")
	require.Equal(t, uint64(1), st.Epochs, "a batch run commits once, at the end")
	require.Positive(t, st.Supersteps)
	require.Positive(t, st.Duration)
	require.Equal(t, pipeline.MaxTime, st.Watermark)
}

func TestRunRefusesBadPipelines(t *testing.T) {
	r := local.New(local.Config{Logger: silent})
	require.EqualError(t, r.Run(context.Background(), nil), "kappa: nil pipeline")

	p := pipeline.New()
	s := p.Root().Scope("custom")
	t1 := pipeline.AddTransform(s, "Mystery", struct{}{}, pipelinetest.Create(p.Root(), 1))
	pipeline.AddOutput[int](s, t1)
	require.EqualError(t, r.Run(context.Background(), p), "kappa: custom/Mystery: the local runner cannot execute operator struct {}")
}

// Late data in stream mode is dropped, counted per transform in Stats and in the metrics.
func TestLateDataIsCounted(t *testing.T) {
	p := pipeline.New()
	s := p.Root()
	in := pipeline.Read(s, pipelinetest.Source([]pipelinetest.Timed[int]{
		pipelinetest.AtMillis(1, 5), pipelinetest.AtMillis(2, 25), pipelinetest.AtMillis(3, 8), pipelinetest.AtMillis(4, 9), pipelinetest.AtMillis(5, 40),
	}, 1))
	sums := transforms.Sum(s.Scope("agg"), windowing.Into(s, in, windowing.Fixed{Size: 10 * time.Millisecond}))
	pipelinetest.Equals(s, sums, 1, 2, 5)
	r := local.New(local.Config{Workers: 2, Mode: local.Stream, BatchRecords: 1, Logger: silent})
	require.NoError(t, r.Run(context.Background(), p))
	require.NoError(t, pipelinetest.Verify(p))
	require.Equal(t, map[string]int64{"agg/Sum/CombinePerKey": 2}, r.Stats().Late)
	require.Equal(t, 2.0, gaugeOf(t, r, "kappa_late_dropped_records"))
}

func gaugeOf(t *testing.T, r *local.Runner, name string) float64 {
	t.Helper()
	mfs, err := r.Gatherer().Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			var sum float64
			for _, m := range mf.GetMetric() {
				switch {
				case m.GetGauge() != nil:
					sum += m.GetGauge().GetValue()
				case m.GetCounter() != nil:
					sum += m.GetCounter().GetValue()
				}
			}
			return sum
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func TestMetricsAndProgress(t *testing.T) {
	p, sink := w1Pipeline(10_000, 4, false)
	var progress bytes.Buffer
	r := local.New(local.Config{Workers: 2, Logger: silent, Progress: &progress, ProgressInterval: time.Hour})
	require.NoError(t, r.Run(context.Background(), p))
	require.NotZero(t, sink.rows)
	require.Equal(t, 10_000.0, gaugeOf(t, r, "kappa_source_records_total"))
	require.Equal(t, 1.0, gaugeOf(t, r, "kappa_epochs_total"))
	// The last micro-batch always prints a line.
	require.Regexp(t, regexp.MustCompile(`^kappa: 10\.0k records, .*, watermark \+inf, 100\.0%, ETA 0s, late dropped 0, dead-lettered 0\n$`), progress.String())
}

// Identical results on 1, 2 and 4 workers for every kind of stage: element-wise, keyed, sessions, joins.
func TestWorkersGiveIdenticalResults(t *testing.T) {
	for _, workers := range []int{1, 2, 4} {
		p := pipeline.New()
		s := p.Root()
		var events []pipelinetest.Timed[transforms.KV[string, int]]
		for i := range 2000 {
			events = append(events, pipelinetest.AtMillis(transforms.Pair(string(rune('a'+i%7)), i%13), int64(i*3)))
		}
		in := pipelinetest.CreateTimed(s, events...)
		sess := windowing.Into(s, in, windowing.Sessions{Gap: 25 * time.Millisecond})
		counts := transforms.CountPerKey(s, sess)
		pipelinetest.Equals(s, transforms.Map(s, counts, func(kv transforms.KV[string, int64]) int64 { return kv.Value }),
			286, 286, 286, 286, 286, 285, 285)
		fixed := windowing.Into(s, in, windowing.Fixed{Size: time.Second})
		tot := transforms.Sum(s, transforms.Values(s, fixed))
		pipelinetest.Equals(s, tot, 1986, 1998, 2010, 1990, 2003, 2002)
		top := transforms.Top(s, transforms.Values(s, in), 3, func(a, b int) bool { return a < b })
		pipelinetest.Equals(s, top, []int{12, 12, 12})
		r := local.New(local.Config{Workers: workers, Logger: silent})
		require.NoError(t, r.Run(context.Background(), p))
		require.NoError(t, pipelinetest.Verify(p), "workers=%d", workers)
	}
}
