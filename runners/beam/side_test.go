package beam_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

// A global lookup table read as AsMap by a windowed main input, on Prism.
func TestSideInputAsMapOnPrism(t *testing.T) {
	p := pipeline.New()
	s := p.Root()
	names := transforms.AsMap(s, pipelinetest.Create(s, transforms.Pair("a", "Alpha"), transforms.Pair("b", "Bravo")))
	main := windowing.Into(s, pipelinetest.CreateTimed(s, pipelinetest.AtMillis("a", 1000), pipelinetest.AtMillis("b", 61000), pipelinetest.AtMillis("c", 2000)), windowing.Fixed{Size: time.Minute})
	out := transforms.MapWithSide(s, main, func(k string, side transforms.Side) string {
		v, ok := names.Lookup(side, k)
		return fmt.Sprint(k, "=", v, ok)
	}, names)
	pipelinetest.Equals(s, out, "a=Alphatrue", "b=Bravotrue", "c=false")
	run(t, p)
}
