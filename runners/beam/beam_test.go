package beam_test

import (
	"context"
	"fmt"
	"iter"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/beam"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

func run(t *testing.T, p *pipeline.Pipeline) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	require.NoError(t, beam.New(beam.Config{}).Run(ctx, p))
	require.NoError(t, pipelinetest.Verify(p))
}

func TestWordCountOnPrism(t *testing.T) {
	p := pipeline.New()
	s := p.Root()
	lines := pipelinetest.Create(s, "a b", "a c", "b a")
	words := transforms.FlatMap(s, lines, strings.Fields)
	counts := transforms.Count(s, words)
	pipelinetest.Equals(s, counts, transforms.Pair("a", int64(3)), transforms.Pair("b", int64(2)), transforms.Pair("c", int64(1)))
	run(t, p)
}

func TestFixedWindowsGroupByKeyOnPrism(t *testing.T) {
	p := pipeline.New()
	s := p.Root()
	in := pipelinetest.CreateTimed(s,
		pipelinetest.AtMillis(transforms.Pair("k", 1), 1000),
		pipelinetest.AtMillis(transforms.Pair("k", 2), 59000),
		pipelinetest.AtMillis(transforms.Pair("k", 3), 61000),
	)
	w := windowing.Into(s, in, windowing.Fixed{Size: time.Minute})
	g := transforms.GroupByKey(s, w)
	sums := transforms.Map(s, g, func(kv transforms.KV[string, iter.Seq[int]]) int {
		n := 0
		for v := range kv.Value {
			n += v
		}
		return n
	})
	pipelinetest.EqualsElements(s, sums,
		pipeline.Element[int]{Value: 3, Time: 59999, Window: pipeline.Window{Start: 0, End: 60000}, Pane: pipeline.Pane{Timing: pipeline.OnTime, First: true, Last: true}},
		pipeline.Element[int]{Value: 3, Time: 119999, Window: pipeline.Window{Start: 60000, End: 120000}, Pane: pipeline.Pane{Timing: pipeline.OnTime, First: true, Last: true}},
	)
	run(t, p)
}

func TestStatefulOnPrism(t *testing.T) {
	count := transforms.ValueState[int]{Name: "count"}
	p := pipeline.New()
	s := p.Root()
	in := pipelinetest.Create(s, transforms.Pair("a", 0), transforms.Pair("b", 0), transforms.Pair("a", 0))
	out := transforms.StatefulParDo(s, in, transforms.StatefulFuncs[string, int, string]{
		Process: func(_ context.Context, sc *transforms.StateContext[string], e pipeline.Element[int], emit transforms.Emitter[string]) error {
			n, _ := count.Read(sc)
			count.Write(sc, n+1)
			emit.Emit(fmt.Sprintf("%s%d", sc.Key(), n+1))
			return nil
		}})
	pipelinetest.Equals(s, out, "a1", "a2", "b1")
	run(t, p)
}
