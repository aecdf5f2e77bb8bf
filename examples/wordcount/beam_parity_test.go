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
	"github.com/kappaflow/kappa/transforms"
)

// multiset renders elements as sorted lines of value, timestamp, window and pane.
func multiset[T any](es []pipeline.Element[T]) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = fmt.Sprintf("%v @%d %s pane=%+v", e.Value, e.Time, e.Window, e.Pane)
	}
	slices.Sort(out)
	return out
}

// The word count gives the same elements — value, timestamp, window and pane — on runners/local and on Prism.
func TestWordCountElementsOnPrismEqualLocal(t *testing.T) {
	build := func() (*pipeline.Pipeline, *pipelinetest.Result[transforms.KV[string, int64]]) {
		p := pipeline.New()
		s := p.Root()
		return p, pipelinetest.Collect(s, CountWords(s, pipeline.Read(s, pipeline.Source[string](newLineSource(tale, 3)))))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	lp, lres := build()
	require.NoError(t, local.New(local.Config{Workers: 2}).Run(ctx, lp))
	bp, bres := build()
	require.NoError(t, beam.New(beam.Config{}).Run(ctx, bp))
	want := multiset(lres.Elements())
	require.Len(t, want, 58)
	require.Equal(t, want, multiset(bres.Elements()))
}
