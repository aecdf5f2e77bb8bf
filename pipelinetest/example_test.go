package pipelinetest_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

// In a test, pipelinetest.Run(t, p) runs the pipeline and reports failed assertions with t.Error. Outside one, run
// the pipeline and call Verify.
func ExampleEquals() {
	p := pipeline.New()
	s := p.Root()
	words := transforms.FlatMap(s, pipelinetest.Create(s, "a b", "a"), strings.Fields)
	pipelinetest.Equals(s.Scope("ok"), transforms.Count(s, words), transforms.Pair("a", int64(2)), transforms.Pair("b", int64(1)))
	pipelinetest.Equals(s.Scope("wrong"), transforms.Count(s, words), transforms.Pair("a", int64(2)), transforms.Pair("c", int64(1)))
	if err := local.New(local.Config{}).Run(context.Background(), p); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(pipelinetest.Verify(p))
	// Output:
	// wrong/Equals(Count/CombinePerKey#2.out0): got 2 elements, want 2
	//   missing (1):
	//     c=1
	//   unexpected (1):
	//     b=1
}

func ExampleEqualsInWindow() {
	p := pipeline.New()
	s := p.Root()
	in := pipelinetest.CreateTimed(s, pipelinetest.AtMillis("x", 1500), pipelinetest.AtMillis("y", 2500), pipelinetest.AtMillis("x", 2600))
	counts := transforms.Count(s, windowing.Into(s, in, windowing.Fixed{Size: time.Second}))
	pipelinetest.EqualsInWindow(s, counts, pipeline.Window{Start: 1000, End: 2000}, transforms.Pair("x", int64(1)))
	pipelinetest.EqualsInWindow(s, counts, pipeline.Window{Start: 2000, End: 3000}, transforms.Pair("x", int64(1)), transforms.Pair("y", int64(1)))
	if err := local.New(local.Config{}).Run(context.Background(), p); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(pipelinetest.Verify(p))
	// Output:
	// <nil>
}
