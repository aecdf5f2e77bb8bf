package transforms_test

import (
	"fmt"
	"slices"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/transforms"
)

// Page views are enriched with the category their URL had at the time of the view: the view at 1500 ms sees
// "news", the one at 2500 ms sees "sport" (the update at 2000 ms), the one at 3500 ms sees none (deleted at
// 3000 ms), and the left join keeps it.
func ExampleLeftTableJoin() {
	type change = transforms.KV[string, transforms.Change[string]]
	type view = transforms.KV[string, string]
	p := pipeline.New()
	s := p.Root()
	urls := pipelinetest.CreateTimed(s,
		pipelinetest.AtMillis(change{Key: "/a", Value: transforms.Change[string]{Value: "news"}}, 1000),
		pipelinetest.AtMillis(change{Key: "/a", Value: transforms.Change[string]{Value: "sport"}}, 2000),
		pipelinetest.AtMillis(change{Key: "/a", Value: transforms.Change[string]{Delete: true}}, 3000))
	views := pipelinetest.CreateTimed(s,
		pipelinetest.AtMillis(view{Key: "/a", Value: "alice"}, 1500),
		pipelinetest.AtMillis(view{Key: "/a", Value: "bob"}, 2500),
		pipelinetest.AtMillis(view{Key: "/a", Value: "carol"}, 3500))
	joined := transforms.LeftTableJoin(s, views, urls)
	res := pipelinetest.Collect(s, transforms.Map(s, joined, func(kv transforms.KV[string, transforms.TableJoined[string, string]]) string {
		return fmt.Sprintf("%s %s category=%q found=%v", kv.Key, kv.Value.Value, kv.Value.Table, kv.Value.Found)
	}))
	runExample(p)
	out := res.Values()
	slices.Sort(out)
	for _, line := range out {
		fmt.Println(line)
	}
	// Output:
	// /a alice category="news" found=true
	// /a bob category="sport" found=true
	// /a carol category="" found=false
}
