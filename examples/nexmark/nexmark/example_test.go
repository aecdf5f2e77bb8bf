package nexmark_test

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/kappaflow/kappa/examples/nexmark/nexmark"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
)

// Events are a function of the configuration and their number: here the first person and the first bid of Beam's
// default stream.
func ExampleGenerator() {
	g, err := nexmark.NewGenerator(nexmark.DefaultConfig(1000))
	if err != nil {
		panic(err)
	}
	p := g.Event(0).Person
	fmt.Println(p.ID, p.Name, p.City, p.State, time.UnixMilli(p.DateTime).UTC().Format(time.RFC3339Nano))
	b := g.Event(4).Bid
	fmt.Println(b.Auction, b.Bidder, b.Price, time.UnixMilli(b.DateTime).UTC().Format(time.RFC3339Nano))
	// Output:
	// 1000 Peter Jones Portland WY 2015-07-15T00:00:00Z
	// 1000 1001 32530001 2015-07-15T00:00:00Z
}

// A source of generated events in a pipeline: the number of events of each type among the first 100,000.
func ExampleNewSource() {
	src, err := nexmark.NewSource(nexmark.DefaultConfig(100_000), nexmark.SourceConfig{Splits: 4})
	if err != nil {
		panic(err)
	}
	p := pipeline.New()
	s := p.Root()
	events := nexmark.Read(s, src)
	counts := pipelinetest.Collect(s, transforms.Count(s, transforms.Map(s, events, func(e nexmark.Event) string { return e.Type.String() })))
	if err := local.New(local.Config{Workers: 2}).Run(context.Background(), p); err != nil {
		panic(err)
	}
	var out []string
	for _, c := range counts.Values() {
		out = append(out, c.String())
	}
	slices.Sort(out)
	fmt.Println(out)
	// Output: [auction=6000 bid=92000 person=2000]
}
