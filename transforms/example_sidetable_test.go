package transforms_test

import (
	"fmt"
	"time"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/transforms"
)

// A changelog — what a compacted Kafka topic read with kafkaio.DecodeChange gives, mapped to
// KV[key, transforms.Change[T]] — as an AsTable side input: the latest change per key in event-time order, a
// tombstone (Delete) removing its key. In batch mode every main element sees the complete table; in stream mode
// the table as the changes read so far make it.
func ExampleAsTable() {
	p := pipeline.New()
	s := p.Root()
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	set := func(user, tier string, minute int) pipelinetest.Timed[transforms.KV[string, transforms.Change[string]]] {
		return pipelinetest.At(transforms.Pair(user, transforms.Change[string]{Value: tier}), t0.Add(time.Duration(minute)*time.Minute))
	}
	deleted := func(user string, minute int) pipelinetest.Timed[transforms.KV[string, transforms.Change[string]]] {
		return pipelinetest.At(transforms.Pair(user, transforms.Change[string]{Delete: true}), t0.Add(time.Duration(minute)*time.Minute))
	}
	tiers := transforms.AsTable(s, pipelinetest.CreateTimed(s,
		set("ann", "gold", 0), set("bob", "silver", 0), set("ann", "platinum", 5),
		deleted("bob", 7), set("bob", "bronze", 3), // stamped before the deletion: stays deleted
	))
	orders := pipelinetest.Create(s, "ann", "bob")
	out := transforms.MapWithSide(s, orders, func(user string, side transforms.Side) string {
		tier, ok := tiers.Lookup(side, user)
		if !ok {
			return fmt.Sprintf("%s: no tier (%d users)", user, tiers.Len(side))
		}
		return fmt.Sprintf("%s: %s (%d users)", user, tier, tiers.Len(side))
	}, tiers)
	res := pipelinetest.Collect(s, out)
	runExample(p)
	printSorted(res)
	// Output:
	// ann: platinum (1 users)
	// bob: no tier (1 users)
}
