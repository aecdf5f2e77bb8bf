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

var noon = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// clicks are four clicks of one user at 12:00:10, 12:00:50, 12:01:20 and 12:05:00.
func clicks(s pipeline.Scope) pipeline.PCollection[string] {
	at := func(sec int) time.Time { return noon.Add(time.Duration(sec) * time.Second) }
	return pipelinetest.CreateTimed(s,
		pipelinetest.At("ann", at(10)), pipelinetest.At("ann", at(50)), pipelinetest.At("ann", at(80)), pipelinetest.At("ann", at(300)))
}

// countPerWindow windows the clicks with fn, counts them per user and window, and prints the counts by window.
func countPerWindow(fn windowing.WindowFn) {
	p := pipeline.New()
	s := p.Root()
	counts := transforms.Count(s, windowing.Into(s, clicks(s), fn))
	desc := transforms.ParDo(s, counts, transforms.DoFunc[transforms.KV[string, int64], string](
		func(_ context.Context, e pipeline.Element[transforms.KV[string, int64]], emit transforms.Emitter[string]) error {
			if e.Window.IsGlobal() {
				emit.Emit(fmt.Sprintf("global: %d", e.Value.Value))
				return nil
			}
			emit.Emit(fmt.Sprintf("%s-%s: %d", e.Window.Start.Std().Format("15:04:05"), e.Window.End.Std().Format("15:04:05"), e.Value.Value))
			return nil
		}))
	res := pipelinetest.Collect(s, desc)
	if err := local.New(local.Config{}).Run(context.Background(), p); err != nil {
		fmt.Println(err)
		return
	}
	out := res.Values()
	slices.Sort(out)
	for _, line := range out {
		fmt.Println(line)
	}
}

func ExampleInto() {
	// Count clicks per minute, firing when the watermark passes each minute, and accepting data up to 10 minutes
	// late (each late arrival updates its minute in a late pane).
	p := pipeline.New()
	s := p.Root()
	perMinute := windowing.Into(s, clicks(s), windowing.Fixed{Size: time.Minute}, windowing.AllowedLateness(10*time.Minute))
	fmt.Println(windowing.Of(perMinute))
	_ = transforms.Count(s, perMinute)
	// Output:
	// Fixed(1m0s) trigger=Default discarding lateness=10m0s
}

func ExampleFixed() {
	countPerWindow(windowing.Fixed{Size: time.Minute})
	fmt.Println(windowing.Fixed{Size: time.Hour, Offset: 15 * time.Minute}.Window(pipeline.TimeOf(noon)))
	// Output:
	// 12:00:00-12:01:00: 2
	// 12:01:00-12:02:00: 1
	// 12:05:00-12:06:00: 1
	// [2024-05-01T11:15:00.000Z, 2024-05-01T12:15:00.000Z)
}

func ExampleSliding() {
	// Two-minute windows every minute: each click is counted in both windows that contain it.
	countPerWindow(windowing.Sliding{Size: 2 * time.Minute, Period: time.Minute})
	// Output:
	// 11:59:00-12:01:00: 2
	// 12:00:00-12:02:00: 3
	// 12:01:00-12:03:00: 1
	// 12:04:00-12:06:00: 1
	// 12:05:00-12:07:00: 1
}

func ExampleSessions() {
	// Clicks less than a minute apart form one session: 12:00:10, 12:00:50 and 12:01:20 merge into
	// [12:00:10, 12:02:20); 12:05:00 is a session of its own.
	countPerWindow(windowing.Sessions{Gap: time.Minute})
	// Output:
	// 12:00:10-12:02:20: 3
	// 12:05:00-12:06:00: 1
}

func ExampleGlobal() {
	countPerWindow(windowing.Global{})
	// Output:
	// global: 4
}

type reading struct {
	Sensor string
	At     time.Time
	Value  float64
}

func ExampleWithTimestamps() {
	p := pipeline.New()
	s := p.Root()
	readings := pipelinetest.Create(s,
		reading{"t1", noon.Add(5 * time.Second), 20.5}, reading{"t1", noon.Add(65 * time.Second), 21.5}, reading{"t1", noon.Add(70 * time.Second), 22.5})
	timed := windowing.WithTimestamps(s, readings, func(r reading) time.Time { return r.At })
	perMinute := windowing.Into(s, timed, windowing.Fixed{Size: time.Minute})
	values := transforms.Map(s, perMinute, func(r reading) transforms.KV[string, float64] { return transforms.Pair(r.Sensor, r.Value) })
	means := transforms.MeanPerKey(s, values)
	res := pipelinetest.Collect(s, means)
	if err := local.New(local.Config{}).Run(context.Background(), p); err != nil {
		fmt.Println(err)
		return
	}
	els := res.Elements()
	slices.SortFunc(els, func(a, b pipeline.Element[transforms.KV[string, float64]]) int { return int(a.Time - b.Time) })
	for _, e := range els {
		fmt.Println(e.Time, e.Value)
	}
	// Output:
	// 2024-05-01T12:00:59.999Z t1=20.5
	// 2024-05-01T12:01:59.999Z t1=22
}
