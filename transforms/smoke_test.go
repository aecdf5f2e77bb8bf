package transforms_test

import (
	"strings"
	"testing"
	"time"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

func TestSmokeWordCount(t *testing.T) {
	p := pipeline.New()
	s := p.Root()
	lines := pipelinetest.Create(s, "a b c", "a b", "a")
	words := transforms.FlatMap(s, lines, strings.Fields)
	counts := transforms.Count(s, words)
	pipelinetest.Equals(s, counts, transforms.Pair("a", int64(3)), transforms.Pair("b", int64(2)), transforms.Pair("c", int64(1)))
	pipelinetest.Run(t, p, local.Config{Workers: 2})
}

func TestSmokeFixedWindows(t *testing.T) {
	p := pipeline.New()
	s := p.Root()
	in := pipelinetest.CreateTimed(s,
		pipelinetest.AtMillis("x", 1000), pipelinetest.AtMillis("x", 59999), pipelinetest.AtMillis("x", 60000), pipelinetest.AtMillis("y", 61000))
	w := windowing.Into(s, in, windowing.Fixed{Size: time.Minute})
	counts := transforms.Count(s, w)
	pipelinetest.EqualsElements(s, counts,
		pipeline.Element[transforms.KV[string, int64]]{Value: transforms.Pair("x", int64(2)), Time: 59999, Window: pipeline.Window{Start: 0, End: 60000}, Pane: pipeline.Pane{Timing: pipeline.OnTime, First: true, Last: true}},
		pipeline.Element[transforms.KV[string, int64]]{Value: transforms.Pair("x", int64(1)), Time: 119999, Window: pipeline.Window{Start: 60000, End: 120000}, Pane: pipeline.Pane{Timing: pipeline.OnTime, First: true, Last: true}},
		pipeline.Element[transforms.KV[string, int64]]{Value: transforms.Pair("y", int64(1)), Time: 119999, Window: pipeline.Window{Start: 60000, End: 120000}, Pane: pipeline.Pane{Timing: pipeline.OnTime, First: true, Last: true}},
	)
	pipelinetest.Run(t, p, local.Config{Workers: 3})
}
