package main

import (
	"time"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

// PageView is one page-view event.
type PageView struct {
	URL  string    `json:"url" parquet:"url" avro:"url"`
	User string    `json:"user" parquet:"user" avro:"user"`
	At   time.Time `json:"at" parquet:"at,timestamp(millisecond)" avro:"at"`
}

// Row is the traffic of one URL in one minute of event time.
type Row struct {
	URL string `json:"url"`
	// Minute is the start of the minute (UTC).
	Minute time.Time `json:"minute"`
	// Views counts the page views.
	Views int64 `json:"views"`
	// UniqueUsers counts the distinct users among them, exactly.
	UniqueUsers int64 `json:"unique_users"`
}

// BuildPageViews is the analytics-on-write pipeline: it stamps each page view with its event time (PageView.At),
// windows the views into fixed minutes, and computes per URL and minute the number of views and the exact number of
// distinct users, in one combiner (so each worker pre-aggregates its share before the shuffle). The input can come
// from any source: the generator of this example, Kafka or Parquet.
func BuildPageViews(s pipeline.Scope, events pipeline.PCollection[PageView]) pipeline.PCollection[Row] {
	s = s.Scope("PageViews")
	timed := windowing.WithTimestamps(s, events, func(v PageView) time.Time { return v.At })
	minutes := windowing.Into(s, timed, windowing.Fixed{Size: time.Minute})
	byURL := transforms.KeyBy(s, minutes, func(v PageView) string { return v.URL })
	stats := transforms.CombinePerKey(s, byURL, viewStatsFn{}, transforms.Name("ViewsAndUsers"))
	return transforms.MapWindowed(s, stats, func(st transforms.KV[string, ViewStats], w pipeline.Window) Row {
		return Row{URL: st.Key, Minute: w.Start.Std(), Views: st.Value.Views, UniqueUsers: st.Value.UniqueUsers}
	})
}

// ViewStats is the result of viewStatsFn.
type ViewStats struct {
	Views, UniqueUsers int64
}

// viewAcc accumulates views and the set of users (an exact distinct count: right for an example's data; for
// millions of users per key, transforms.ApproxCountDistinctFn keeps a fixed-size sketch instead).
type viewAcc struct {
	views int64
	users map[string]struct{}
}

// viewStatsFn counts views and distinct users.
type viewStatsFn struct{}

func (viewStatsFn) CreateAccumulator() viewAcc { return viewAcc{} }

func (viewStatsFn) AddInput(a viewAcc, v PageView) viewAcc {
	if a.users == nil {
		a.users = map[string]struct{}{}
	}
	a.users[v.User] = struct{}{}
	a.views++
	return a
}

func (viewStatsFn) MergeAccumulators(a, b viewAcc) viewAcc {
	if a.users == nil {
		a.users = make(map[string]struct{}, len(b.users))
	}
	for u := range b.users {
		a.users[u] = struct{}{}
	}
	a.views += b.views
	return a
}

func (viewStatsFn) ExtractOutput(a viewAcc) ViewStats {
	return ViewStats{Views: a.views, UniqueUsers: int64(len(a.users))}
}
