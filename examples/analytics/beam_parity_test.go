package main

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/beam"
	"github.com/kappaflow/kappa/runners/local"
)

// beamMultiset renders elements as sorted lines of value, timestamp, window and pane.
func beamMultiset[T any](es []pipeline.Element[T]) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = fmt.Sprintf("%+v @%d %s pane=%+v", e.Value, e.Time, e.Window, e.Pane)
	}
	slices.Sort(out)
	return out
}

// runLocalAndPrism builds the pipeline twice and runs it on runners/local (2 workers) and on Prism, returning each
// run's collected result.
func runLocalAndPrism[T any](t *testing.T, build func() (*pipeline.Pipeline, *pipelinetest.Result[T])) (onLocal, onPrism *pipelinetest.Result[T]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	lp, lres := build()
	require.NoError(t, local.New(local.Config{Workers: 2}).Run(ctx, lp))
	bp, bres := build()
	require.NoError(t, beam.New(beam.Config{}).Run(ctx, bp))
	return lres, bres
}

// The analytics pipeline (BuildPageViews over the generated page views) gives the same rows — value, timestamp,
// window and pane — on runners/local and on Prism. The example's own sinks commit on checkpoint epochs, which the
// Beam runner refuses, so the rows are collected here.
func TestPageViewsOnPrismEqualLocal(t *testing.T) {
	gen := Generator{N: 5000, Seed: 7, Start: time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC), Span: 10 * time.Minute, Users: 50, Parts: 3}
	build := func() (*pipeline.Pipeline, *pipelinetest.Result[Row]) {
		p := pipeline.New()
		s := p.Root()
		return p, pipelinetest.Collect(s, BuildPageViews(s, gen.Read(s)))
	}
	lres, bres := runLocalAndPrism(t, build)
	want := beamMultiset(lres.Elements())
	require.Greater(t, len(want), 10, "rows per URL and minute on runners/local")
	require.Equal(t, want, beamMultiset(bres.Elements()))
}

// The enriched job (BuildEnrichedPageViews: WithTimestamps → KeyBy → LeftTableJoin with the urls changelog →
// minutes → CombinePerKey) over bounded inputs gives the same rows on runners/local and on Prism, and they are
// the plain-Go answer: each view gets the category valid at its event time (/careers added, /blog/kappa-1.0
// recategorized, /pricing deleted during the run), on Beam too, where the join is driven by its timers alone.
func TestEnrichedPageViewsOnPrismEqualLocal(t *testing.T) {
	gen, views, changes := enrichedInput()
	build := func() (*pipeline.Pipeline, *pipelinetest.Result[EnrichedRow]) {
		p := pipeline.New()
		s := p.Root()
		return p, pipelinetest.Collect(s, enrichedTestJob(s, gen, changes))
	}
	lres, bres := runLocalAndPrism(t, build)
	want := beamMultiset(lres.Elements())
	require.Equal(t, want, beamMultiset(bres.Elements()))

	got := bres.Values()
	slices.SortFunc(got, compareEnriched)
	require.Equal(t, plainEnriched(views, changes), got)
	requireEveryKindOfChange(t, got)
}
