package main

import (
	"fmt"
	"time"

	"github.com/kappaflow/kappa/io/generate"
	"github.com/kappaflow/kappa/pipeline"
)

// pages are the site's URLs with their relative popularity.
var pages = []struct {
	url    string
	weight uint64
}{
	{"/", 30}, {"/docs", 15}, {"/blog/kappa-1.0", 14}, {"/pricing", 12},
	{"/docs/quickstart", 10}, {"/signup", 8}, {"/about", 6}, {"/careers", 5},
}

// Generator describes N page views, a pure function of Seed: view i happens at Start + i·Span/N (in event-time
// order), on a page drawn by popularity, by one of Users users. Read generates them with io/generate, in Parts
// interleaved splits (views j, j+Parts, j+2·Parts, …) so that all splits advance through event time together,
// like the partitions of a topic.
type Generator struct {
	N     int64
	Seed  uint64
	Start time.Time
	Span  time.Duration
	Users int
	Parts int
}

// View returns page view i.
func (g Generator) View(i int64) PageView {
	h := splitmix64(g.Seed*0x9E3779B97F4A7C15 + uint64(i))
	var total uint64
	for _, p := range pages {
		total += p.weight
	}
	pick := h % total
	url := pages[len(pages)-1].url
	for _, p := range pages {
		if pick < p.weight {
			url = p.url
			break
		}
		pick -= p.weight
	}
	user := fmt.Sprintf("user-%03d", (h>>32)%uint64(max(g.Users, 1)))
	at := g.Start.Add(time.Duration(int64(g.Span) / max(g.N, 1) * i)).Truncate(time.Millisecond)
	return PageView{URL: url, User: user, At: at.UTC()}
}

func splitmix64(z uint64) uint64 {
	z += 0x9E3779B97F4A7C15
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// config is the generator as an io/generate source: view i at its time, in event-time order (so the promise of
// no out-of-orderness holds, and batch runs fire each minute as generation passes it), Parts interleaved splits.
func (g Generator) config() generate.Config[PageView] {
	return generate.Config[PageView]{
		Count:  g.N,
		Splits: max(g.Parts, 1),
		Name:   fmt.Sprintf("pageviews(n=%d, seed=%d)", g.N, g.Seed),
		Func: func(i int64) (PageView, pipeline.Time) {
			v := g.View(i)
			return v, pipeline.TimeOf(v.At)
		},
	}
}

// Read adds the generator to the pipeline.
func (g Generator) Read(s pipeline.Scope) pipeline.PCollection[PageView] {
	return generate.Read(s, g.config())
}
