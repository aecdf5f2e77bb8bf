// Package pipelinetest is kappa's test kit, like Beam's passert and ptest: it builds inputs inside a pipeline,
// asserts the exact contents of collections (per window when windowed), and runs the pipeline on the local runner.
//
//	func TestWordCount(t *testing.T) {
//		p := pipeline.New()
//		s := p.Root()
//		lines := pipelinetest.Create(s, "a b", "a")
//		counts := transforms.Count(s, transforms.FlatMap(s, lines, strings.Fields))
//		pipelinetest.Equals(s, counts, transforms.Pair("a", int64(2)), transforms.Pair("b", int64(1)))
//		pipelinetest.Run(t, p, local.Config{Workers: 2})
//	}
//
// Create and CreateTimed make bounded inputs (spread over several splits, so multi-worker runs read them in
// parallel); Feed is an unbounded input a test appends to while the pipeline runs. Equals, EqualsInWindow,
// EqualsElements (values with their times, windows and panes) and Empty register checks that Run (or Verify,
// after running a pipeline some other way) evaluates; a failure lists the missing and the unexpected elements.
// Collect gives the raw contents of a collection.
package pipelinetest
