package local_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
)

func ExampleRunner_Run() {
	p := pipeline.New()
	s := p.Root()
	words := transforms.FlatMap(s, pipelinetest.Create(s, "a b", "b c", "c"), strings.Fields)
	res := pipelinetest.Collect(s, transforms.CountAll(s, words))

	r := local.New(local.Config{Workers: 2}) // batch mode: every window fires once, at the end
	if err := r.Run(context.Background(), p); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Values(), r.Stats().Records)
	// Output:
	// [5] 3
}
