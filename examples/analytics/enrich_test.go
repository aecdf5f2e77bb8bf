package main

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
)

// plainEnriched computes BuildEnrichedPageViews' rows with plain loops: each view takes the category of the
// latest change of its URL at or before its time (the last one listed among changes at the same time).
func plainEnriched(views []PageView, changes []URLChange) []EnrichedRow {
	type key struct {
		minute        time.Time
		url, category string
	}
	count := map[key]int64{}
	users := map[key]map[string]bool{}
	for _, v := range views {
		category, at := Unknown, time.Time{}
		for _, c := range changes {
			if c.URL != v.URL || c.At.After(v.At) || c.At.Before(at) {
				continue
			}
			at, category = c.At, c.Info.Category
			if c.Deleted {
				category = Unknown
			}
		}
		k := key{v.At.Truncate(time.Minute), v.URL, category}
		count[k]++
		if users[k] == nil {
			users[k] = map[string]bool{}
		}
		users[k][v.User] = true
	}
	var out []EnrichedRow
	for k, n := range count {
		out = append(out, EnrichedRow{Minute: k.minute, URL: k.url, Category: k.category, Views: n, UniqueUsers: int64(len(users[k]))})
	}
	slices.SortFunc(out, compareEnriched)
	return out
}

// enrichedInput is the input of the enriched-job tests: 3000 views over 5 minutes and the urls table's changes.
func enrichedInput() (Generator, []PageView, []URLChange) {
	gen := Generator{N: 3000, Seed: 11, Start: start, Span: 5 * time.Minute, Users: 60, Parts: 3}
	views := make([]PageView, 0, gen.N)
	for i := range gen.N {
		views = append(views, gen.View(i))
	}
	return gen, views, URLChanges(start)
}

// enrichedTestJob builds BuildEnrichedPageViews over gen's views and the changes, created in reverse order (the
// join's result depends on the changes' times only, not on their arrival order).
func enrichedTestJob(s pipeline.Scope, gen Generator, changes []URLChange) pipeline.PCollection[EnrichedRow] {
	var timed []pipelinetest.Timed[URLChange]
	for _, c := range slices.Backward(changes) {
		timed = append(timed, pipelinetest.At(c, c.At))
	}
	urls := tableOf(s, pipelinetest.CreateTimed(s, timed...))
	return BuildEnrichedPageViews(s, gen.Read(s), urls)
}

// requireEveryKindOfChange asserts that rows (sorted by compareEnriched) show each kind of table change: a URL
// unknown, then known (/careers), recategorized (/blog/kappa-1.0) and deleted (/pricing).
func requireEveryKindOfChange(t *testing.T, rows []EnrichedRow) {
	t.Helper()
	categories := map[string][]string{}
	for _, r := range rows {
		if c := categories[r.URL]; len(c) == 0 || c[len(c)-1] != r.Category {
			categories[r.URL] = append(categories[r.URL], r.Category)
		}
	}
	require.Equal(t, []string{Unknown, "company"}, categories["/careers"])
	require.Equal(t, []string{"blog", "docs"}, categories["/blog/kappa-1.0"])
	require.Equal(t, []string{"sales", Unknown}, categories["/pricing"])
}

// The enriched job equals the plain-Go computation in batch and in stream mode, with one and several workers and
// any micro-batch size: each view gets the category valid at its event time, whatever order the table's changes
// and the views arrive in.
func TestBuildEnrichedPageViewsEqualsPlainGo(t *testing.T) {
	gen, views, changes := enrichedInput()
	want := plainEnriched(views, changes)
	requireEveryKindOfChange(t, want)

	for _, tc := range []struct {
		name string
		cfg  local.Config
	}{
		{"batch/1", local.Config{Workers: 1}},
		{"batch/4", local.Config{Workers: 4}},
		{"stream/2/batch=7", local.Config{Workers: 2, Mode: local.Stream, BatchRecords: 7}},
		{"stream/3/batch=500", local.Config{Workers: 3, Mode: local.Stream, BatchRecords: 500}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := pipeline.New()
			s := p.Root()
			got := pipelinetest.Collect(s, enrichedTestJob(s, gen, changes))
			pipelinetest.Run(t, p, tc.cfg)
			values := got.Values()
			slices.SortFunc(values, compareEnriched)
			require.Equal(t, want, values)
		})
	}
}
