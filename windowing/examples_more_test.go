package windowing_test

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

func ExampleSessions_touching() {
	// Sessions merge when their windows overlap, not when they only touch: clicks exactly Gap apart
	// ([t, t+Gap) and [t+Gap, t+2·Gap)) stay two sessions, as in Beam; Flink would merge them.
	p := pipeline.New()
	s := p.Root()
	clicks := pipelinetest.CreateTimed(s,
		pipelinetest.At("ann", noon), pipelinetest.At("ann", noon.Add(time.Minute)), pipelinetest.At("bob", noon), pipelinetest.At("bob", noon.Add(59*time.Second)))
	counts := transforms.Count(s, windowing.Into(s, clicks, windowing.Sessions{Gap: time.Minute}))
	rows := transforms.MapWindowed(s, counts, func(c transforms.KV[string, int64], w pipeline.Window) string {
		return fmt.Sprintf("%s %s-%s: %d", c.Key, w.Start.Std().Format("15:04:05"), w.End.Std().Format("15:04:05"), c.Value)
	})
	res := pipelinetest.Collect(s, rows)
	if err := local.New(local.Config{}).Run(context.Background(), p); err != nil {
		fmt.Println(err)
		return
	}
	out := res.Values()
	slices.Sort(out)
	for _, line := range out {
		fmt.Println(line)
	}
	// Output:
	// ann 12:00:00-12:01:00: 1
	// ann 12:01:00-12:02:00: 1
	// bob 12:00:00-12:01:59: 2
}

func ExampleAfterWatermark() {
	// Early results every 2 elements before the watermark passes the end of the minute, then the on-time pane.
	// In stream mode, one record per micro-batch here, so that the firings are easy to follow; panes discard
	// what earlier panes reported, so each holds only the elements since the previous one.
	p := pipeline.New()
	s := p.Root()
	at := func(sec int) pipelinetest.Timed[string] {
		return pipelinetest.At("ann", noon.Add(time.Duration(sec)*time.Second))
	}
	clicks := pipeline.Read(s, pipelinetest.Source([]pipelinetest.Timed[string]{at(10), at(20), at(30), at(70)}, 1))
	perMinute := windowing.Into(s, clicks, windowing.Fixed{Size: time.Minute},
		windowing.WithTrigger(windowing.AfterWatermark{Early: windowing.EveryN(2)}))
	counts := transforms.Count(s, perMinute)
	res := pipelinetest.Collect(s, counts)
	if err := local.New(local.Config{Mode: local.Stream, BatchRecords: 1}).Run(context.Background(), p); err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range res.Elements() {
		fmt.Println(e.Window.Start.Std().Format("15:04"), e.Pane.Timing, e.Value.Value)
	}
	// Output:
	// 12:00 early 2
	// 12:00 on-time 1
	// 12:01 on-time 1
}
