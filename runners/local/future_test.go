package local_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
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

// skewStart is the event time of the first record and skewNow the processing time of the runs below.
var (
	skewStart = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	skewNow   = skewStart.Add(10 * time.Minute)
)

// skewedInput is 200 records of value 1, one per second from skewStart, in one split, with one record stamped
// in 2099 after the first 100: a producer with a broken clock.
func skewedInput() []pipelinetest.Timed[int64] {
	var in []pipelinetest.Timed[int64]
	for i := range 200 {
		if i == 100 {
			in = append(in, pipelinetest.At(int64(1000), time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)))
		}
		in = append(in, pipelinetest.At(int64(1), skewStart.Add(time.Duration(i)*time.Second)))
	}
	return in
}

type skewRun struct {
	total  int64 // sum of the per-minute sums emitted
	dead   []*pipeline.RecordError
	stats  local.Stats
	err    error
	logs   string
	runner *local.Runner
}

// runSkewed sums skewedInput per fixed minute in stream mode, 10 records per micro-batch, with opts on the read.
func runSkewed(t *testing.T, mode local.Mode, dlq bool, opts ...pipeline.ReadOption) skewRun {
	t.Helper()
	p := pipeline.New()
	s := p.Root()
	src := pipelinetest.Source(skewedInput(), 1)
	var in pipeline.PCollection[int64]
	var dead *pipelinetest.Result[*pipeline.RecordError]
	if dlq {
		var errs pipeline.PCollection[*pipeline.RecordError]
		in, errs = pipeline.ReadWithDeadLetters(s, src, opts...)
		dead = pipelinetest.Collect(s.Scope("Dead"), errs)
	} else {
		in = pipeline.Read(s, src, opts...)
	}
	sums := transforms.Sum(s, windowing.Into(s, in, windowing.Fixed{Size: time.Minute}))
	res := pipelinetest.Collect(s, sums)
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))
	r := local.New(local.Config{Mode: mode, Workers: 1, BatchRecords: 10, Now: func() time.Time { return skewNow }, Logger: logger})
	out := skewRun{err: r.Run(context.Background(), p), stats: r.Stats(), runner: r}
	for _, v := range res.Values() {
		out.total += v
	}
	if dead != nil {
		out.dead = dead.Values()
	}
	mu.Lock()
	out.logs = logs.String()
	mu.Unlock()
	return out
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// Without a guard, the 2099 record moves the watermark and the 100 records after it are dropped as late — as in
// Beam and Flink — but the run is no longer silent about it: the record is counted as future, the first one is
// logged with the advice, and the summary is logged as a warning with the late count.
func TestFutureRecordsAreCountedAndLoggedByDefault(t *testing.T) {
	r := runSkewed(t, local.Stream, false)
	require.NoError(t, r.err)
	require.Equal(t, int64(1), r.stats.Future["memory"])
	// The 9 valid records in the 2099 record's micro-batch are on time; the 91 after it are late.
	require.Equal(t, int64(91), r.stats.LateDropped(), "the records after the 2099 one are late")
	require.Equal(t, int64(109+1000), r.total)
	require.Contains(t, r.logs, "records stamped ahead of processing time")
	require.Contains(t, r.logs, "pipeline.MaxFutureSkew")
	require.Contains(t, r.logs, "event time 2099-01-01T00:00:00.000Z")
	require.Contains(t, r.logs, "level=WARN msg=\"kappa: run summary\"")
	require.Contains(t, r.logs, "late_dropped=91")
	require.Contains(t, r.stats.String(), "late-dropped=91")
	require.Contains(t, r.stats.String(), "future=1")

	// The warning threshold can be turned off for sources whose times run ahead on purpose.
	r = runSkewed(t, local.Stream, false, pipeline.FutureSkewWarning(-1))
	require.NoError(t, r.err)
	require.Empty(t, r.stats.Future)
	require.NotContains(t, r.logs, "records stamped ahead")
}

// With MaxFutureSkew the 2099 record goes to the dead-letter output, naming source, split and reason, and never
// moves the watermark: nothing is late, in stream and in batch mode.
func TestMaxFutureSkewDeadLettersAndKeepsTheWatermark(t *testing.T) {
	for _, mode := range []local.Mode{local.Stream, local.Batch} {
		t.Run(mode.String(), func(t *testing.T) {
			r := runSkewed(t, mode, true, pipeline.MaxFutureSkew(time.Hour))
			require.NoError(t, r.err)
			require.Empty(t, r.stats.Late, "nothing late: the future record did not move the watermark")
			require.Equal(t, int64(200), r.total, "every valid record counted, the future one not")
			require.Len(t, r.dead, 1)
			re := r.dead[0]
			require.ErrorIs(t, re, pipeline.ErrFutureEventTime)
			require.Equal(t, "memory", re.Source)
			require.Equal(t, "split 0/1", re.Location)
			require.Equal(t, int64(1000), re.Value)
			require.Contains(t, re.Error(), "memory split 0/1: event time too far ahead of processing time: 2099-01-01T00:00:00.000Z")
			require.Contains(t, re.Error(), "(MaxFutureSkew 1h0m0s)")
			require.Equal(t, map[string]int64{"memory": 1}, r.stats.DeadLettered)
			require.Equal(t, map[string]int64{"memory": 1}, r.stats.Future)
		})
	}
}

// With MaxFutureSkew and no dead-letter output, the run stops at the record, naming it.
func TestMaxFutureSkewWithoutDeadLettersFailsTheRun(t *testing.T) {
	r := runSkewed(t, local.Stream, false, pipeline.MaxFutureSkew(time.Hour))
	require.ErrorIs(t, r.err, pipeline.ErrFutureEventTime)
	require.ErrorContains(t, r.err, "memory split 0/1")
	var re *pipeline.RecordError
	require.True(t, errors.As(r.err, &re))
	require.Contains(t, r.logs, "kappa: run summary")
}

// Stats count the panes by timing: early (AfterCount early firings), on time, and late (late data within the
// allowed lateness).
func TestStatsCountPanesByTiming(t *testing.T) {
	var in []pipelinetest.Timed[int64]
	for i := range 180 { // three minutes, one record per second
		in = append(in, pipelinetest.At(int64(1), skewStart.Add(time.Duration(i)*time.Second)))
		if i == 100 {
			in = append(in, pipelinetest.At(int64(1), skewStart.Add(5*time.Second))) // late for minute 0
		}
	}
	p := pipeline.New()
	s := p.Root()
	w := windowing.Into(s, pipeline.Read(s, pipelinetest.Source(in, 1)), windowing.Fixed{Size: time.Minute},
		windowing.WithTrigger(windowing.AfterWatermark{Early: windowing.EveryN(30), Late: windowing.EveryN(1)}),
		windowing.AllowedLateness(time.Hour))
	pipelinetest.Collect(s, transforms.Sum(s, w))
	r := local.New(local.Config{Mode: local.Stream, Workers: 1, BatchRecords: 10})
	require.NoError(t, r.Run(context.Background(), p))
	st := r.Stats()
	// Minutes 0 and 1 fire on time as the data passes them; minute 2 at the end of input (counted too).
	require.Equal(t, int64(3), st.Panes.OnTime)
	require.Equal(t, int64(1), st.Panes.Late)
	require.Equal(t, int64(4), st.Panes.Early, "early firings every 30 elements")
	require.Contains(t, st.String(), "late=1")
}
