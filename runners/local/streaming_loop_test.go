package local_test

import (
	"context"
	"errors"
	"fmt"
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

type kv = transforms.KV[string, int]

// tickClock advances by step on every reading and runs hooks when it passes their times, so streaming tests drive
// the runner's processing time deterministically and never sleep.
type tickClock struct {
	mu    sync.Mutex
	t     time.Time
	step  time.Duration
	hooks []hook
}

type hook struct {
	at time.Time
	fn func()
}

func newTickClock(step time.Duration) *tickClock {
	return &tickClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), step: step}
}

func (c *tickClock) after(d time.Duration, fn func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hooks = append(c.hooks, hook{at: c.t.Add(d), fn: fn})
}

func (c *tickClock) Now() time.Time {
	c.mu.Lock()
	c.t = c.t.Add(c.step)
	now := c.t
	var due []func()
	keep := c.hooks[:0]
	for _, h := range c.hooks {
		if !now.Before(h.at) {
			due = append(due, h.fn)
		} else {
			keep = append(keep, h)
		}
	}
	c.hooks = keep
	c.mu.Unlock()
	for _, fn := range due {
		fn()
	}
	return now
}

func streamCfg(clock *tickClock) local.Config {
	return local.Config{Mode: local.Stream, Workers: 2, Now: clock.Now, EpochInterval: time.Second,
		DiscoveryInterval: time.Second, BatchWait: time.Millisecond}
}

// runFor runs p until the fake clock has advanced by d, then cancels it.
func runFor(t *testing.T, p *pipeline.Pipeline, cfg local.Config, clock *tickClock, d time.Duration) *local.Runner {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	clock.after(d, cancel)
	r := local.New(cfg)
	err := r.Run(ctx, p)
	require.ErrorIs(t, err, context.Canceled)
	return r
}

// One split goes idle: with an idle timeout the watermark still advances with the other split and windows fire;
// without one, the idle split holds the watermark back and nothing fires.
func TestIdleSplitDoesNotHoldWatermark(t *testing.T) {
	for _, idle := range []time.Duration{0, time.Second} {
		t.Run(fmt.Sprint(idle), func(t *testing.T) {
			feed := pipelinetest.NewFeed[kv]("a", "b")
			for i := range 300 {
				feed.Send("a", pipelinetest.AtMillis(kv{Key: "k", Value: 1}, int64(i)*1000))
			}
			feed.Send("b", pipelinetest.AtMillis(kv{Key: "k", Value: 1}, 0))
			p := pipeline.New()
			s := p.Root()
			in := pipeline.Read(s, pipeline.Source[kv](feed), pipeline.IdleTimeout(idle))
			sums := transforms.SumPerKey(s, windowing.Into(s, in, windowing.Fixed{Size: time.Minute}))
			got := pipelinetest.Collect(s, sums)
			clock := newTickClock(100 * time.Millisecond)
			runFor(t, p, streamCfg(clock), clock, 30*time.Second)
			var starts []string
			for _, e := range got.Elements() {
				starts = append(starts, fmt.Sprintf("%s=%d", e.Window.Start.Std().Format("15:04"), e.Value.Value))
			}
			if idle == 0 {
				require.Empty(t, starts)
				return
			}
			require.ElementsMatch(t, []string{"00:00=61", "00:01=60", "00:02=60", "00:03=60"}, starts)
		})
	}
}

// A whole source goes idle (a rarely written table topic): with an idle timeout it stops holding back the
// stages it feeds together with an active source, as Flink's idleness does across an operator's inputs, and the
// windows fire with the active source; without one, it holds them back. Failed before (the idle source's
// watermark stayed at its last record's time).
func TestIdleSourceDoesNotHoldOtherSources(t *testing.T) {
	for _, idle := range []time.Duration{0, time.Second} {
		t.Run(fmt.Sprint(idle), func(t *testing.T) {
			active := pipelinetest.NewFeed[kv]("a")
			for i := range 300 {
				active.Send("a", pipelinetest.AtMillis(kv{Key: "k", Value: 1}, int64(i)*1000))
			}
			table := pipelinetest.NewFeed[kv]("t")
			table.Send("t", pipelinetest.AtMillis(kv{Key: "k", Value: 1}, 0))
			p := pipeline.New()
			s := p.Root()
			a := pipeline.Read(s, pipeline.Source[kv](active), pipeline.ReadName("Active"))
			b := pipeline.Read(s, pipeline.Source[kv](table), pipeline.IdleTimeout(idle), pipeline.ReadName("Table"))
			sums := transforms.SumPerKey(s, windowing.Into(s, transforms.Flatten(s, a, b), windowing.Fixed{Size: time.Minute}))
			got := pipelinetest.Collect(s, sums)
			clock := newTickClock(100 * time.Millisecond)
			runFor(t, p, streamCfg(clock), clock, 30*time.Second)
			var starts []string
			for _, e := range got.Elements() {
				starts = append(starts, fmt.Sprintf("%s=%d", e.Window.Start.Std().Format("15:04"), e.Value.Value))
			}
			if idle == 0 {
				require.Empty(t, starts)
				return
			}
			require.ElementsMatch(t, []string{"00:00=61", "00:01=60", "00:02=60", "00:03=60"}, starts)
		})
	}
}

// A split added while the job runs is discovered; a child split is read only after its parent has ended.
func TestSplitDiscoveryAndParentOrder(t *testing.T) {
	feed := pipelinetest.NewFeed[kv]("parent")
	feed.AddSplit("child", "parent")
	for i := range 5 {
		feed.Send("parent", pipelinetest.AtMillis(kv{Key: "parent", Value: i}, int64(i)))
		feed.Send("child", pipelinetest.AtMillis(kv{Key: "child", Value: i}, int64(10+i)))
	}
	clock := newTickClock(100 * time.Millisecond)
	clock.after(3*time.Second, func() { feed.End("parent") })
	clock.after(5*time.Second, func() { feed.Send("late-split", pipelinetest.AtMillis(kv{Key: "late-split", Value: 7}, 20)) })
	var mu sync.Mutex
	var order []string
	p := pipeline.New()
	s := p.Root()
	in := pipeline.Read(s, pipeline.Source[kv](feed))
	seen := transforms.Map(s, in, func(v kv) string {
		mu.Lock()
		defer mu.Unlock()
		order = append(order, fmt.Sprintf("%s%d", v.Key, v.Value))
		return v.Key
	})
	pipelinetest.Collect(s, seen)
	cfg := streamCfg(clock)
	cfg.Workers = 1
	runFor(t, p, cfg, clock, 10*time.Second)
	require.Equal(t, []string{"parent0", "parent1", "parent2", "parent3", "parent4",
		"child0", "child1", "child2", "child3", "child4", "late-split7"}, order)
}

// Cancelling a streaming run commits what was read, then Run returns context.Canceled.
func TestCancelCommitsWhatWasRead(t *testing.T) {
	feed := pipelinetest.NewFeed[kv]("0", "1", "2")
	var want []string
	for i := range 999 {
		feed.Send(fmt.Sprint(i%3), pipelinetest.AtMillis(kv{Key: "k", Value: i}, int64(i)))
		want = append(want, fmt.Sprint(i))
	}
	p := pipeline.New()
	s := p.Root()
	in := pipeline.Read(s, pipeline.Source[kv](feed))
	got := pipelinetest.Collect(s, transforms.Map(s, in, func(v kv) string { return fmt.Sprint(v.Value) }))
	clock := newTickClock(10 * time.Millisecond)
	cfg := streamCfg(clock)
	cfg.EpochInterval = time.Hour // only the cancellation commits
	cfg.BatchRecords = 50
	runFor(t, p, cfg, clock, 5*time.Second)
	require.ElementsMatch(t, want, got.Values())
}

// StopWhenIdle drains a stream that has gone quiet: the watermark jumps to +inf, every window fires, and Run
// returns nil.
func TestStopWhenIdleDrains(t *testing.T) {
	feed := pipelinetest.NewFeed[kv]("0")
	feed.Send("0", pipelinetest.AtMillis(kv{Key: "k", Value: 1}, 1000), pipelinetest.AtMillis(kv{Key: "k", Value: 2}, 2000))
	p := pipeline.New()
	s := p.Root()
	in := pipeline.Read(s, pipeline.Source[kv](feed))
	sums := transforms.SumPerKey(s, windowing.Into(s, in, windowing.Fixed{Size: time.Minute}))
	pipelinetest.Equals(s, sums, kv{Key: "k", Value: 3})
	clock := newTickClock(100 * time.Millisecond)
	cfg := streamCfg(clock)
	cfg.StopWhenIdle = 2 * time.Second
	err := local.New(cfg).Run(context.Background(), p)
	require.NoError(t, err)
	require.NoError(t, pipelinetest.Verify(p))
}

// A source error stops the run with the source's name in the error.
func TestSourceErrorStopsRun(t *testing.T) {
	p := pipeline.New()
	s := p.Root()
	in := pipeline.Read(s, pipeline.Source[kv](failingSource{}))
	pipelinetest.Collect(s, in)
	err := local.New(local.Config{Workers: 2}).Run(context.Background(), p)
	require.ErrorContains(t, err, "failing: list splits: no route to host")
}

type failingSource struct{}

func (failingSource) Name() string  { return "failing" }
func (failingSource) Bounded() bool { return true }
func (failingSource) Splits(context.Context) ([]pipeline.Split, error) {
	return nil, errors.New("no route to host")
}
func (failingSource) Open(context.Context, pipeline.Split, []byte) (pipeline.SplitReader[kv], error) {
	return nil, errors.New("unreachable")
}
