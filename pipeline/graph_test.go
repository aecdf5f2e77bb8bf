package pipeline_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

// graphPipeline is a word count in a "wordcount" scope, with a repeated transform name and a scope name holding
// a slash.
func graphPipeline() *pipeline.Pipeline {
	p := pipeline.New()
	s := p.Root()
	lines := pipelinetest.Create(s, "a b", "c")
	wc := s.Scope("wordcount")
	words := transforms.FlatMap(wc, lines, strings.Fields)
	upper := transforms.Map(wc, words, strings.ToUpper)
	lower := transforms.Map(wc, upper, strings.ToLower)
	w := windowing.Into(wc, lower, windowing.Fixed{Size: time.Minute})
	counts := transforms.Count(wc, w)
	transforms.Flatten(s.Scope("a/b"), counts, counts)
	return p
}

func TestPipelineString(t *testing.T) {
	want := `Create: Read(memory)  out: Create.out0 (string)
wordcount/FlatMap: FlatMap  in: Create.out0  out: wordcount/FlatMap.out0 (string)
wordcount/Map: Map  in: wordcount/FlatMap.out0  out: wordcount/Map.out0 (string)
wordcount/Map#2: Map  in: wordcount/Map.out0  out: wordcount/Map#2.out0 (string)
wordcount/WindowInto: WindowInto(Fixed(1m0s))  in: wordcount/Map#2.out0  out: wordcount/WindowInto.out0 (string)
wordcount/Count/KeyByElement: KeyByElement  in: wordcount/WindowInto.out0  out: wordcount/Count/KeyByElement.out0 (KV[string,struct {}])
wordcount/Count/CombinePerKey: CombinePerKey  in: wordcount/Count/KeyByElement.out0  out: wordcount/Count/CombinePerKey.out0 (KV[string,int64])
a_b/Flatten: Flatten  in: wordcount/Count/CombinePerKey.out0 wordcount/Count/CombinePerKey.out0  out: a_b/Flatten.out0 (KV[string,int64])
`
	require.Equal(t, want, graphPipeline().String())
	require.Empty(t, pipeline.New().String())
}

func TestPipelineDot(t *testing.T) {
	want := `digraph pipeline {
  rankdir=TB;
  node [shape=box, fontname="Helvetica"];
  n0 [label="Create\nRead(memory)"];
  subgraph cluster_1 {
    label="a_b";
    n7 [label="Flatten\nFlatten"];
  }
  subgraph cluster_2 {
    label="wordcount";
    n1 [label="FlatMap\nFlatMap"];
    n2 [label="Map\nMap"];
    n3 [label="Map#2\nMap"];
    n4 [label="WindowInto\nWindowInto(Fixed(1m0s))"];
  }
  subgraph cluster_3 {
    label="wordcount/Count";
    n5 [label="KeyByElement\nKeyByElement"];
    n6 [label="CombinePerKey\nCombinePerKey"];
  }
  n0 -> n1 [label="string"];
  n1 -> n2 [label="string"];
  n2 -> n3 [label="string"];
  n3 -> n4 [label="string"];
  n4 -> n5 [label="string"];
  n5 -> n6 [label="KV[string,struct {}]"];
  n6 -> n7 [label="KV[string,int64]"];
  n6 -> n7 [label="KV[string,int64]"];
}
`
	require.Equal(t, want, graphPipeline().Dot())
}
