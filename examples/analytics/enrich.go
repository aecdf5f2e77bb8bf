package main

import (
	"cmp"
	"time"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

// URLInfo is a row of the "urls" table: what the site knows about a page. The table is a compacted Kafka topic
// keyed by URL, whose records set a URL's info from their timestamp on or delete it (a tombstone).
type URLInfo struct {
	Category string `avro:"category" json:"category"`
	Title    string `avro:"title" json:"title"`
}

// Unknown is the category of a view whose URL had no row in the urls table at the view's time.
const Unknown = "(unknown)"

// EnrichedRow is the traffic of one URL in one minute of event time, with the URL's category at that time: the
// row the analytics job upserts into PostgreSQL (primary key minute, url, category).
type EnrichedRow struct {
	// Minute is the start of the minute (UTC).
	Minute time.Time `pg:"minute,key" json:"minute"`
	URL    string    `pg:"url,key" json:"url"`
	// Category is the URL's category in the urls table at the time of the views, or Unknown.
	Category string `pg:"category,key" json:"category"`
	// Views counts the page views.
	Views int64 `pg:"views" json:"views"`
	// UniqueUsers counts the distinct users among them, exactly.
	UniqueUsers int64 `pg:"unique_users" json:"unique_users"`
}

// page is the grouping key of BuildEnrichedPageViews.
type page struct {
	URL, Category string
}

// BuildEnrichedPageViews is the analytics-on-write job of the demo: each page view is joined with the version of
// its URL's row in the urls changelog table that was valid at the view's event time (an event-time temporal join,
// transforms.LeftTableJoin: a table update at 12:02 changes the category of views from 12:02 on, in batch and in
// stream alike), then per minute, URL and category the views and the distinct users are counted, with the same
// combiner as BuildPageViews.
func BuildEnrichedPageViews(s pipeline.Scope, views pipeline.PCollection[PageView], urls pipeline.PCollection[transforms.KV[string, transforms.Change[URLInfo]]]) pipeline.PCollection[EnrichedRow] {
	s = s.Scope("EnrichedPageViews")
	timed := windowing.WithTimestamps(s, views, func(v PageView) time.Time { return v.At })
	byURL := transforms.KeyBy(s, timed, func(v PageView) string { return v.URL })
	joined := transforms.LeftTableJoin(s, byURL, urls, transforms.Name("JoinURLs"))
	byPage := transforms.Map(s.Scope("Categorize"), joined, func(j transforms.KV[string, transforms.TableJoined[PageView, URLInfo]]) transforms.KV[page, PageView] {
		category := Unknown
		if j.Value.Found {
			category = j.Value.Table.Category
		}
		return transforms.KV[page, PageView]{Key: page{URL: j.Key, Category: category}, Value: j.Value.Value}
	})
	minutes := windowing.Into(s, byPage, windowing.Fixed{Size: time.Minute})
	stats := transforms.CombinePerKey(s, minutes, viewStatsFn{}, transforms.Name("ViewsAndUsers"))
	return transforms.MapWindowed(s, stats, func(st transforms.KV[page, ViewStats], w pipeline.Window) EnrichedRow {
		return EnrichedRow{Minute: w.Start.Std(), URL: st.Key.URL, Category: st.Key.Category, Views: st.Value.Views, UniqueUsers: st.Value.UniqueUsers}
	})
}

// URLChange is one record of the urls topic: the URL (the record key), its info or a deletion, and the time
// from which it holds (the record timestamp).
type URLChange struct {
	URL     string
	Info    URLInfo
	Deleted bool
	At      time.Time
}

// URLChanges is the history of the urls table in the demo, relative to the first view's time: every page but
// /careers is known from an hour before; /careers is added at minute 1, /blog/kappa-1.0 moves from "blog" to
// "docs" at minute 2, and /pricing is deleted at minute 3 (its views then count as Unknown).
func URLChanges(start time.Time) []URLChange {
	set := func(url, category, title string, at time.Time) URLChange {
		return URLChange{URL: url, Info: URLInfo{Category: category, Title: title}, At: at}
	}
	before := start.Add(-time.Hour)
	return []URLChange{
		set("/", "home", "Kappa", before),
		set("/docs", "docs", "Documentation", before),
		set("/blog/kappa-1.0", "blog", "Kappa 1.0 is out", before),
		set("/pricing", "sales", "Pricing", before),
		set("/docs/quickstart", "docs", "Quick start", before),
		set("/signup", "sales", "Sign up", before),
		set("/about", "company", "About us", before),
		set("/careers", "company", "Careers", start.Add(time.Minute)),
		set("/blog/kappa-1.0", "docs", "Kappa 1.0: what is new", start.Add(2*time.Minute)),
		{URL: "/pricing", Deleted: true, At: start.Add(3 * time.Minute)},
	}
}

// tableOf turns URL changes into the changelog collection that BuildEnrichedPageViews joins with.
func tableOf(s pipeline.Scope, changes pipeline.PCollection[URLChange]) pipeline.PCollection[transforms.KV[string, transforms.Change[URLInfo]]] {
	return transforms.Map(s.Scope("URLTable"), changes, func(c URLChange) transforms.KV[string, transforms.Change[URLInfo]] {
		return transforms.KV[string, transforms.Change[URLInfo]]{Key: c.URL, Value: transforms.Change[URLInfo]{Value: c.Info, Delete: c.Deleted}}
	})
}

// compareEnriched orders rows by minute, URL and category.
func compareEnriched(a, b EnrichedRow) int {
	return cmp.Or(a.Minute.Compare(b.Minute), cmp.Compare(a.URL, b.URL), cmp.Compare(a.Category, b.Category))
}
