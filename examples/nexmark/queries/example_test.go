package queries_test

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/kappaflow/kappa/examples/nexmark/nexmark"
	"github.com/kappaflow/kappa/examples/nexmark/queries"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
)

// Query 7 over 30 seconds of events at 1000 events per second, in stream mode: the highest bid of each 10 s
// window.
func ExampleQ7() {
	cfg := nexmark.DefaultConfig(30_000)
	cfg.FirstEventRate = 1000
	src, err := nexmark.NewSource(cfg, nexmark.SourceConfig{Splits: 2})
	if err != nil {
		panic(err)
	}
	p := pipeline.New()
	s := p.Root()
	highest := pipelinetest.Collect(s, queries.Q7(s, nexmark.Read(s, src), queries.DefaultParams(src.Generator())))
	if err := local.New(local.Config{Mode: local.Stream}).Run(context.Background(), p); err != nil {
		panic(err)
	}
	elems := highest.Elements()
	slices.SortFunc(elems, func(a, b pipeline.Element[nexmark.Bid]) int { return cmp.Compare(a.Window.Start, b.Window.Start) })
	for _, e := range elems {
		fmt.Println(e.Window.Start.Std().Format(time.TimeOnly), e.Value.Auction, e.Value.Price)
	}
	// Output:
	// 00:00:00 1449 99865927
	// 00:00:10 2107 99810809
	// 00:00:20 2479 99935433
}
