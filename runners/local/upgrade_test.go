package local_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/w1"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

// sumCount is v2's accumulator for "totals": a sum and a count where v1 kept only the sum.
type sumCount struct {
	Sum, N int64
}

// upgradeJob builds one version of a job for the upgrade table: "totals" (a sum per key and minute) and "counts"
// (a count per key and minute) are its stateful transforms; versions add, remove or change parts of it.
func upgradeJob(version string, feed *pipelinetest.Feed[w1.Event], res *pipelinetest.Result[string]) *pipeline.Pipeline {
	p := pipeline.New()
	s := p.Root()
	var ev pipeline.PCollection[w1.Event]
	if version == "renamed-source" {
		ev = pipeline.Read(s, pipeline.Source[w1.Event](feed), pipeline.OutOfOrderness(40*time.Second), pipeline.IdleTimeout(time.Second), pipeline.ReadName("Events"))
	} else {
		ev = pipeline.Read(s, pipeline.Source[w1.Event](feed), pipeline.OutOfOrderness(40*time.Second), pipeline.IdleTimeout(time.Second))
	}
	if version == "element-wise" { // element-wise transforms change freely
		ev = transforms.Filter(s, ev, func(w1.Event) bool { return true })
		ev = transforms.Map(s, ev, func(e w1.Event) w1.Event { return e })
	}
	kv := transforms.Map(s, ev, func(e w1.Event) ikv { return ikv{Key: e.Key[:8], Value: e.Value} })
	minutes := windowing.Into(s, kv, windowing.Fixed{Size: time.Minute})
	format := func(name string, col pipeline.PCollection[ikv]) pipeline.PCollection[string] {
		return windowing.Into(s, transforms.MapWindowed(s, col, func(v ikv, w pipeline.Window) string {
			return fmt.Sprintf("%s %s %s=%d", name, w, v.Key, v.Value)
		}), windowing.Global{})
	}
	var totals pipeline.PCollection[ikv]
	if version == "acc-type" || version == "acc-type-migrated" {
		totals = transforms.CombinePerKey(s.Scope("totals"), minutes, transforms.CombineFuncs[int64, sumCount, int64]{
			Add:     func(a sumCount, v int64) sumCount { return sumCount{Sum: a.Sum + v, N: a.N + 1} },
			Merge:   func(a, b sumCount) sumCount { return sumCount{Sum: a.Sum + b.Sum, N: a.N + b.N} },
			Extract: func(a sumCount) int64 { return a.Sum },
		}, transforms.Name("SumPerKey"))
	} else {
		totals = transforms.SumPerKey(s.Scope("totals"), minutes)
	}
	outs := []pipeline.PCollection[string]{format("totals", totals)}
	if version != "removed" {
		outs = append(outs, format("counts", transforms.CountPerKey(s.Scope("counts"), minutes)))
	}
	if version == "added" {
		outs = append(outs, format("added", transforms.CountPerKey(s.Scope("added"), minutes)))
	}
	pipeline.Write(s, transforms.Flatten(s, outs...), pipeline.Sink[string](res))
	return p
}

func upgradeConfig(store local.CheckpointStore, workers int) (local.Config, *tickClock) {
	clock := newTickClock(100 * time.Millisecond)
	return local.Config{Mode: local.Stream, Workers: workers, Now: clock.Now, EpochInterval: 300 * time.Millisecond,
		BatchRecords: 300, BatchWait: time.Millisecond, StopWhenIdle: 3 * time.Second, Checkpoints: store}, clock
}

func withPrefix(xs []string, prefix string) []string {
	var out []string
	for _, x := range xs {
		if strings.HasPrefix(x, prefix) {
			out = append(out, x)
		}
	}
	return sorted(out)
}

// Upgrades keep state: a savepoint of v1, then v2 started from it. State is matched by transform name and state
// types; every scenario checks v2's results or the refusal (which happens before anything is read).
func TestUpgradeFromSavepoint(t *testing.T) {
	const n = 12000
	want := func(version string) []string {
		res := pipelinetest.NewResult[string]()
		cfg, _ := upgradeConfig(nil, 2)
		require.NoError(t, local.New(cfg).Run(context.Background(), upgradeJob(version, feedW1(n, 3), res)))
		return sorted(res.Values())
	}
	v1 := want("v1")
	for _, tc := range []struct {
		name     string
		version  string
		workers  int
		allow    bool
		migrate  bool
		refusal  []string // the run must fail with these, having emitted nothing
		complete []string // transforms whose results must equal an uninterrupted v1's
	}{
		{name: "same job, more workers", version: "v1", workers: 3, complete: []string{"totals", "counts"}},
		{name: "element-wise transforms added", version: "element-wise", workers: 2, complete: []string{"totals", "counts"}},
		{name: "stateful transform added starts empty", version: "added", workers: 2, complete: []string{"totals", "counts"}},
		{name: "stateful transform removed is refused", version: "removed", workers: 2,
			refusal: []string{"the pipeline no longer has the state of counts/CountPerKey (CountPerKey)", "AllowNonRestoredState"}},
		{name: "stateful transform removed with AllowNonRestoredState", version: "removed", workers: 2, allow: true,
			complete: []string{"totals"}},
		{name: "renamed source is refused", version: "renamed-source", workers: 2,
			refusal: []string{"the pipeline no longer has source Read"}},
		{name: "accumulator type changed is refused", version: "acc-type", workers: 2,
			refusal: []string{"totals/SumPerKey: state types changed from {accumulator=int64 key=string} to {accumulator=local_test.sumCount key=string}", "local.MigrateAccumulator"}},
		{name: "accumulator type changed with a migration", version: "acc-type-migrated", workers: 2, migrate: true,
			complete: []string{"totals", "counts"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := local.DirStore(t.TempDir())
			feed := feedW1(n, 3)
			res1 := pipelinetest.NewResult[string]()
			cfg, clock := upgradeConfig(store, 2)
			cfg.StopWhenIdle = 0
			r := local.New(cfg)
			spErr := make(chan error, 1)
			var once sync.Once
			clock.after(2*time.Second, func() {
				once.Do(func() { go func() { spErr <- r.StopWithSavepoint(context.Background(), "v1") }() })
			})
			require.NoError(t, r.Run(context.Background(), upgradeJob("v1", feed, res1)))
			require.NoError(t, <-spErr)
			require.NotEmpty(t, res1.Values())
			require.Less(t, len(res1.Values()), len(v1), "the savepoint is taken mid-stream")

			res2 := pipelinetest.NewResult[string]()
			cfg2, _ := upgradeConfig(store, tc.workers)
			cfg2.StartFrom, cfg2.AllowNonRestoredState = "v1", tc.allow
			if tc.migrate {
				cfg2.Migrations = []local.Migration{local.MigrateAccumulator[string](
					"totals/SumPerKey", func(old int64) sumCount { return sumCount{Sum: old} })}
			}
			err := local.New(cfg2).Run(context.Background(), upgradeJob(tc.version, feed, res2))
			if tc.refusal != nil {
				require.Error(t, err)
				for _, msg := range tc.refusal {
					require.ErrorContains(t, err, msg)
				}
				require.ErrorContains(t, err, "nothing was read")
				require.Empty(t, res2.Values())
				return
			}
			require.NoError(t, err)
			got := append(res1.Values(), res2.Values()...)
			for _, name := range tc.complete {
				require.Equal(t, withPrefix(v1, name+" "), withPrefix(got, name+" "), "%s after the upgrade", name)
			}
			if tc.version == "added" {
				// The new transform saw only what v2 read: less than the whole input, per key and minute.
				added := withPrefix(res2.Values(), "added ")
				require.NotEmpty(t, added)
				require.Less(t, len(added), len(withPrefix(v1, "counts ")))
			}
		})
	}
}
