package transforms_test

import (
	"fmt"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/transforms"
)

// Enrich orders with a small lookup table passed as an AsMap side input and a configuration value passed as an
// AsSingleton: every worker holds a copy of both (see docs/sideinputs.md).
func ExampleParDoWithSide() {
	p := pipeline.New()
	s := p.Root()
	orders := pipelinetest.Create(s, transforms.Pair("ann", 10.0), transforms.Pair("bob", 20.0))
	rates := transforms.AsMap(s, pipelinetest.Create(s, transforms.Pair("ann", "EUR"), transforms.Pair("bob", "USD")))
	fee := transforms.AsSingleton(s, pipelinetest.Create(s, 0.5))
	priced := transforms.MapWithSide(s, orders, func(o transforms.KV[string, float64], side transforms.Side) string {
		cur, ok := rates.Lookup(side, o.Key)
		if !ok {
			cur = "?"
		}
		f, _ := fee.Get(side)
		return fmt.Sprintf("%s pays %.2f %s", o.Key, o.Value+f, cur)
	}, rates, fee)
	res := pipelinetest.Collect(s, priced)
	runExample(p)
	printSorted(res)
	// Output:
	// ann pays 10.50 EUR
	// bob pays 20.50 USD
}
