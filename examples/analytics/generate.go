package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

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

// Generator is a bounded source of N page views, a pure function of Seed: view i happens at Start + i·Span/N
// (in event-time order), on a page drawn by popularity, by one of Users users. Parts interleaved splits read
// views j, j+Parts, j+2·Parts, … so that all splits advance through event time together, like the partitions of
// a topic.
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

// Name identifies the source.
func (g Generator) Name() string { return fmt.Sprintf("pageviews(n=%d, seed=%d)", g.N, g.Seed) }

// Bounded returns true.
func (Generator) Bounded() bool { return true }

// Splits returns Parts splits named "j/Parts".
func (g Generator) Splits(context.Context) ([]pipeline.Split, error) {
	k := max(g.Parts, 1)
	out := make([]pipeline.Split, k)
	for j := range out {
		out[j] = pipeline.Split{ID: fmt.Sprintf("%d/%d", j, k)}
	}
	return out, nil
}

// Open opens split j/k at pos (the next view number), or at its first view.
func (g Generator) Open(_ context.Context, sp pipeline.Split, pos []byte) (pipeline.SplitReader[PageView], error) {
	var j, k int64
	if _, err := fmt.Sscanf(sp.ID, "%d/%d", &j, &k); err != nil || k < 1 || j < 0 || j >= k {
		return nil, fmt.Errorf("pageviews: bad split %q", sp.ID)
	}
	r := &genReader{g: g, next: j, step: k}
	if len(pos) == 8 {
		r.next = int64(binary.BigEndian.Uint64(pos))
	}
	return r, nil
}

type genReader struct {
	g          Generator
	next, step int64
	pos        [8]byte
}

func (r *genReader) ReadBatch(_ context.Context, b *pipeline.Batch[PageView], lim pipeline.Limits) error {
	for r.next < r.g.N && b.Len() < lim.MaxRecords {
		v := r.g.View(r.next)
		b.Add(v, pipeline.TimeOf(v.At))
		b.Bytes += int64(len(v.URL) + len(v.User) + 8)
		r.next += r.step
	}
	if r.next >= r.g.N {
		return pipeline.ErrEndOfInput
	}
	return nil
}

func (r *genReader) Position() []byte {
	binary.BigEndian.PutUint64(r.pos[:], uint64(r.next))
	return r.pos[:]
}

func (r *genReader) Close() error { return nil }
