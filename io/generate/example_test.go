package generate_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/kappaflow/kappa/io/foreach"
	"github.com/kappaflow/kappa/io/generate"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

// A million events, one per millisecond of event time and up to half a second out of order, summed per fixed
// minute; the generator's promise lets the batch run fire each minute as generation passes it.
func Example() {
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	p := pipeline.New()
	s := p.Root()
	events := generate.Read(s, generate.Config[int64]{
		Count:          1_000_000,
		Splits:         4,
		OutOfOrderness: 500 * time.Millisecond,
		Func: func(i int64) (int64, pipeline.Time) {
			return i % 10, pipeline.TimeOf(start).Add(time.Duration(i-i%7*70) * time.Millisecond)
		},
	})
	perMinute := windowing.Into(s, events, windowing.Fixed{Size: time.Minute})
	sums := transforms.Sum(s, perMinute)
	var windows, total atomic.Int64
	foreach.Write(s, sums, func(_ context.Context, sum int64) error {
		windows.Add(1)
		total.Add(sum)
		return nil
	})
	r := local.New(local.Config{})
	if err := r.Run(context.Background(), p); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("windows:", windows.Load(), "total:", total.Load(), "late:", len(r.Stats().Late))
	// Output:
	// windows: 18 total: 4500000 late: 0
}

// An unbounded generator with a rate, stamped with the clock, read in stream mode until the context ends.
func Example_unbounded() {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	p := pipeline.New()
	s := p.Root()
	ticks := generate.Read(s, generate.Config[string]{
		Unbounded: true,
		Rate:      100, // elements per second
		Splits:    1,
		Func: func(i int64) (string, pipeline.Time) {
			return fmt.Sprint("tick ", i), pipeline.TimeOf(time.Now())
		},
	})
	var n atomic.Int64
	foreach.Write(s, ticks, func(context.Context, string) error { n.Add(1); return nil })
	err := local.New(local.Config{Mode: local.Stream, EpochInterval: 50 * time.Millisecond}).Run(ctx, p)
	fmt.Println(err, n.Load() > 10)
	// Output:
	// context deadline exceeded true
}
