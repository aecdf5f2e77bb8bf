package iotest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kappaflow/kappa/internal/w1"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

// streamConfig is the runner configuration of the checks: stream mode on the real clock, short waits, frequent
// epochs (Collect's results appear as epochs commit) and discovery, warnings logged to the test.
func (s *suite) streamConfig(t *testing.T) local.Config {
	return local.Config{
		Mode:              local.Stream,
		Workers:           2,
		BatchRecords:      100,
		BatchWait:         20 * time.Millisecond,
		DiscoveryInterval: 200 * time.Millisecond,
		EpochInterval:     100 * time.Millisecond,
		Logger:            slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
}

// stopWhenIdle is how long a stream run over an unbounded source goes without records before it drains and ends.
func (s *suite) stopWhenIdle() time.Duration { return max(2*s.f.Settle, time.Second) }

// runToEnd runs p until its sources end (bounded) or it has been idle for stopWhenIdle (unbounded), within Timeout.
func (s *suite) runToEnd(t *testing.T, p *pipeline.Pipeline, cfg local.Config) error {
	t.Helper()
	if !s.f.Bounded {
		cfg.StopWhenIdle = s.stopWhenIdle()
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.f.Timeout)
	defer cancel()
	err := local.New(cfg).Run(ctx, p)
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the run did not end within %v", s.f.Timeout)
	}
	return err
}

// background is a run in progress, stopped by cancelling it.
type background struct {
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

func startRun(t *testing.T, p *pipeline.Pipeline, cfg local.Config) *background {
	ctx, cancel := context.WithCancel(context.Background())
	bg := &background{cancel: cancel, done: make(chan error, 1)}
	go func() { bg.done <- local.New(cfg).Run(ctx, p) }()
	t.Cleanup(func() { bg.stop() })
	return bg
}

// stop cancels the run and returns its error (context.Canceled when it ran until then).
func (bg *background) stop() error {
	bg.once.Do(func() {
		bg.cancel()
		bg.err = <-bg.done
	})
	return bg.err
}

// failed returns the run's error if it has ended.
func (bg *background) failed() error {
	select {
	case err := <-bg.done:
		bg.once.Do(func() { bg.err = err })
		if bg.err == nil {
			return errors.New("the run ended")
		}
		return bg.err
	default:
		return nil
	}
}

// waitFor polls cond until it holds, failing t after Timeout with what describe says, or when the run fails.
func (s *suite) waitFor(t *testing.T, bg *background, what string, cond func() bool, describe func() string) {
	t.Helper()
	deadline := time.Now().Add(s.f.Timeout)
	for !cond() {
		if err := bg.failed(); err != nil {
			t.Fatalf("waiting for %s: the run stopped: %v", what, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: not after %v; have %s", what, s.f.Timeout, describe())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testIdleSplitWatermark runs a stream over two splits of which only the first receives records, with an idle
// timeout: the watermark follows the first split, so its windows fire while the second split stays empty, and
// only as far as its records reach.
func testIdleSplitWatermark(t *testing.T, s *suite) {
	env := s.setup(t, 2)
	timed := func(from, n int) []Record { // one record per 100ms of event time
		out := make([]Record, n)
		for i := range out {
			out[i] = Record{Key: "s0", Value: int64(from + i), Time: at(int64(from+i) * 100)}
		}
		return out
	}
	env.Append(t, 0, timed(0, 30)...) // windows [0s,1s), [1s,2s), [2s,3s) of 10 records each

	p := pipeline.New()
	sc := p.Root()
	in := pipeline.Read(sc, s.source(t, env), pipeline.IdleTimeout(200*time.Millisecond))
	windowed := windowing.Into(sc, in, windowing.Fixed{Size: time.Second})
	counts := transforms.CountPerKey(sc, transforms.KeyBy(sc, windowed, func(r Record) string { return r.Key }))
	got := pipelinetest.Collect(sc, counts)
	windows := func() []string {
		var out []string
		for _, e := range got.Elements() {
			out = append(out, fmt.Sprintf("%s@%ds=%d", e.Value.Key, time.Duration(e.Window.Start-pipeline.TimeOf(base))*time.Millisecond/time.Second, e.Value.Value))
		}
		slices.Sort(out)
		return out
	}
	describe := func() string { return fmt.Sprint("windows ", windows()) }
	bg := startRun(t, p, s.streamConfig(t))

	// The watermark reaches 2.899s: windows 0 and 1 fire, window 2 cannot.
	s.waitFor(t, bg, "windows 0s and 1s with split 1 idle", func() bool { return len(windows()) >= 2 }, describe)
	if w := windows(); !slices.Equal(w, []string{"s0@0s=10", "s0@1s=10"}) {
		t.Fatalf("with records up to 2.9s on split 0 and none on split 1: windows %v, want [s0@0s=10 s0@1s=10]", w)
	}
	// More records move the watermark to 3.499s: window 2 fires, window 3 not yet.
	env.Append(t, 0, timed(30, 5)...)
	s.waitFor(t, bg, "window 2s after split 0 moved on", func() bool { return len(windows()) >= 3 }, describe)
	if err := bg.stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("run: %v, want context.Canceled", err)
	}
	if w := windows(); !slices.Equal(w, []string{"s0@0s=10", "s0@1s=10", "s0@2s=10"}) {
		t.Fatalf("windows %v, want [s0@0s=10 s0@1s=10 s0@2s=10]", w)
	}
}

// badEnv sets up two splits with good records around one bad record on split 0; it returns the good records and
// the bad record's location.
func (s *suite) badEnv(t *testing.T) (Env, []Record, string) {
	env := s.setup(t, 2)
	good := records(0, 0, 3)
	env.Append(t, 0, good...)
	loc := env.AppendBad(t, 0)
	more := append(records(0, 3, 3), records(1, 0, 3)...)
	env.Append(t, 0, more[:3]...)
	env.Append(t, 1, more[3:]...)
	s.end(t, env)
	return env, append(good, more...), loc
}

// testRunnerDeadLetters reads a source with a bad record through pipeline.ReadWithDeadLetters: the good records
// flow, and the bad one is the only element of the dead-letter collection.
func testRunnerDeadLetters(t *testing.T, s *suite) {
	env, good, loc := s.badEnv(t)
	src := s.source(t, env)
	p := pipeline.New()
	sc := p.Root()
	vals, dead := pipeline.ReadWithDeadLetters(sc, src)
	gotVals, gotDead := pipelinetest.Collect(sc, vals), pipelinetest.Collect(sc, dead)
	if err := s.runToEnd(t, p, s.streamConfig(t)); err != nil {
		t.Fatalf("run with a dead-letter output: %v", err)
	}
	want, got := strs(good), strs(gotVals.Values())
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(want, got) {
		t.Fatalf("good records: got %v, want %v", got, want)
	}
	d := gotDead.Values()
	if len(d) != 1 {
		t.Fatalf("dead letters: got %d (%v), want 1 at %s", len(d), d, loc)
	}
	if d[0].Location != loc || d[0].Source != src.Name() {
		t.Fatalf("dead letter %v: Source %q and Location %q, want %q and %q", d[0], d[0].Source, d[0].Location, src.Name(), loc)
	}
}

// testRunnerBadRecordFails reads a source with a bad record through plain pipeline.Read: the run fails with the
// *pipeline.RecordError, whose message holds the location.
func testRunnerBadRecordFails(t *testing.T, s *suite) {
	env, _, loc := s.badEnv(t)
	p := pipeline.New()
	sc := p.Root()
	pipelinetest.Collect(sc, pipeline.Read(sc, s.source(t, env)))
	err := s.runToEnd(t, p, s.streamConfig(t))
	if err == nil {
		t.Fatalf("the run succeeded; want it to fail at the bad record at %s", loc)
	}
	var re *pipeline.RecordError
	if !errors.As(err, &re) || re.Location != loc || !strings.Contains(err.Error(), loc) {
		t.Fatalf("run error %q: want a *pipeline.RecordError at %q, named in the message", err, loc)
	}
}

// testRunnerNewSplits adds a split while a stream runs: its records, and those appended to the old split after
// the change, are read.
func testRunnerNewSplits(t *testing.T, s *suite) {
	env := s.setup(t, 1)
	want := records(0, 0, 3)
	env.Append(t, 0, want...)
	p := pipeline.New()
	sc := p.Root()
	got := pipelinetest.Collect(sc, pipeline.Read(sc, s.source(t, env)))
	have := func() []string {
		v := strs(got.Values())
		slices.Sort(v)
		return v
	}
	describe := func() string { return fmt.Sprint(have()) }
	bg := startRun(t, p, s.streamConfig(t))
	s.waitFor(t, bg, "the first split's records", func() bool { return len(got.Values()) >= len(want) }, describe)

	k := env.AddSplit(t)
	added := records(k, 0, 3)
	env.Append(t, k, added...)
	old := records(0, 3, 2)
	env.Append(t, 0, old...)
	want = append(append(want, added...), old...)
	s.waitFor(t, bg, fmt.Sprintf("the records of split %d added while running", k), func() bool { return len(got.Values()) >= len(want) }, describe)
	if err := bg.stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("run: %v, want context.Canceled", err)
	}
	w := strs(want)
	slices.Sort(w)
	if h := have(); !slices.Equal(w, h) {
		t.Fatalf("records: got %v, want %v", h, w)
	}
}

// W1-shaped records of the equivalence check.
const (
	w1Events = 3000
	w1Splits = 3
	w1Window = 500 * time.Millisecond
)

// w1Records returns W1 events 0..n-1 as records, dealt to splits round robin as W1's interleaved splits are.
func w1Records(n, splits int) [][]Record {
	out := make([][]Record, splits)
	for i := range n {
		e := w1.Gen(int64(i))
		out[i%splits] = append(out[i%splits], Record{Key: e.Key, Value: e.Value, Time: time.UnixMilli(e.Time).UTC()})
	}
	return out
}

// windowSums sums values per key in fixed windows and formats each result as "key window sum timing".
func windowSums(s pipeline.Scope, in pipeline.PCollection[Record]) *pipelinetest.Result[transforms.KV[string, int64]] {
	kvs := transforms.Map(s, windowing.Into(s, in, windowing.Fixed{Size: w1Window}), func(r Record) transforms.KV[string, int64] {
		return transforms.KV[string, int64]{Key: r.Key, Value: r.Value}
	})
	return pipelinetest.Collect(s, transforms.SumPerKey(s, kvs))
}

func formatSums(res *pipelinetest.Result[transforms.KV[string, int64]]) []string {
	var out []string
	for _, e := range res.Elements() {
		out = append(out, fmt.Sprintf("%s %d %d %s", e.Value.Key, e.Window.Start, e.Value.Value, e.Pane.Timing))
	}
	slices.Sort(out)
	return out
}

// testStreamEqualsBatch streams W1-shaped records through the source in stream mode, with random micro-batch
// sizes (pipelinetest.Jitter) and W1's out-of-orderness bound, and requires exactly the on-time results of a
// batch run over the same records in memory, which in turn match a plain loop.
func testStreamEqualsBatch(t *testing.T, s *suite) {
	env := s.setup(t, w1Splits)
	bySplit := w1Records(w1Events, w1Splits)
	for i, recs := range bySplit {
		env.Append(t, i, recs...)
	}
	s.end(t, env)

	seed := rand.Uint64()
	p := pipeline.New()
	sc := p.Root()
	in := pipeline.Read(sc, pipelinetest.Jitter(s.source(t, env), seed), pipeline.OutOfOrderness(time.Duration(w1.MaxDelay)*time.Millisecond))
	stream := windowSums(sc, in)
	if err := s.runToEnd(t, p, s.streamConfig(t)); err != nil {
		t.Fatalf("stream run (seed %d): %v", seed, err)
	}

	bp := pipeline.New()
	bs := bp.Root()
	var timed []pipelinetest.Timed[Record]
	plain := map[string]int64{}
	for _, recs := range bySplit {
		for _, r := range recs {
			timed = append(timed, pipelinetest.At(r, r.Time))
			start := pipeline.TimeOf(r.Time) / pipeline.Time(w1Window.Milliseconds()) * pipeline.Time(w1Window.Milliseconds())
			plain[fmt.Sprintf("%s %d", r.Key, start)] += r.Value
		}
	}
	batch := windowSums(bs, pipelinetest.CreateTimed(bs, timed...))
	if err := local.New(local.Config{Workers: 2}).Run(context.Background(), bp); err != nil {
		t.Fatalf("batch run: %v", err)
	}
	want := formatSums(batch)
	var loop []string
	for k, sum := range plain {
		loop = append(loop, fmt.Sprintf("%s %d %s", k, sum, pipeline.OnTime))
	}
	slices.Sort(loop)
	if !slices.Equal(want, loop) {
		t.Fatalf("the batch run over the records in memory differs from a plain loop: %d rows, want %d", len(want), len(loop))
	}
	got := formatSums(stream)
	if !slices.Equal(want, got) {
		missing, extra := diffSorted(want, got)
		t.Fatalf("stream run over the source (seed %d) differs from the batch run: %d rows, want %d\n  missing: %v\n  unexpected: %v",
			seed, len(got), len(want), head(missing), head(extra))
	}
}

// diffSorted returns the items of sorted a missing from sorted b, and those of b not in a.
func diffSorted(a, b []string) (missing, extra []string) {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && a[i] < b[j]):
			missing = append(missing, a[i])
			i++
		case i == len(a) || b[j] < a[i]:
			extra = append(extra, b[j])
			j++
		default:
			i++
			j++
		}
	}
	return missing, extra
}

func head(xs []string) []string {
	if len(xs) > 10 {
		return append(xs[:10:10], fmt.Sprintf("… and %d more", len(xs)-10))
	}
	return xs
}
