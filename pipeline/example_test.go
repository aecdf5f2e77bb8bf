package pipeline_test

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
)

// CountWords is a composite transform: a plain function over a scope, which names its parts.
func CountWords(s pipeline.Scope, lines pipeline.PCollection[string]) pipeline.PCollection[transforms.KV[string, int64]] {
	s = s.Scope("CountWords")
	return transforms.Count(s, transforms.FlatMap(s, lines, strings.Fields))
}

func Example() {
	p := pipeline.New()
	s := p.Root()
	lines := pipelinetest.Create(s, "the cat", "the dog")
	counts := CountWords(s, lines)
	res := pipelinetest.Collect(s, counts)
	if err := local.New(local.Config{}).Run(context.Background(), p); err != nil {
		fmt.Println(err)
		return
	}
	out := res.Values()
	slices.SortFunc(out, func(a, b transforms.KV[string, int64]) int { return strings.Compare(a.Key, b.Key) })
	fmt.Println(out)
	// Output:
	// [cat=1 dog=1 the=2]
}

func ExamplePipeline_String() {
	p := pipeline.New()
	s := p.Root()
	CountWords(s, pipelinetest.Create(s, "a b"))
	fmt.Print(p)
	// Output:
	// Create: Read(memory)  out: Create.out0 (string)
	// CountWords/FlatMap: FlatMap  in: Create.out0  out: CountWords/FlatMap.out0 (string)
	// CountWords/Count/KeyByElement: KeyByElement  in: CountWords/FlatMap.out0  out: CountWords/Count/KeyByElement.out0 (KV[string,struct {}])
	// CountWords/Count/CombinePerKey: CombinePerKey  in: CountWords/Count/KeyByElement.out0  out: CountWords/Count/CombinePerKey.out0 (KV[string,int64])
}

func ExamplePipeline_Err() {
	p := pipeline.New()
	s := p.Root().Scope("clean")
	words := transforms.Map[string, string](s, pipelinetest.Create(p.Root(), "x"), nil) // a mistake
	transforms.Count(s, words)                                                          // not reported again
	fmt.Println(p.Err())
	fmt.Println(local.New(local.Config{}).Run(context.Background(), p))
	// Output:
	// clean: Map: nil function
	// kappa: invalid pipeline: clean: Map: nil function
}
