package kappa_test

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/kappaflow/kappa/io/foreach"
	"github.com/kappaflow/kappa/io/generate"
	"github.com/kappaflow/kappa/io/kafkaio"
	"github.com/kappaflow/kappa/io/parquetio"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

// PageView and URLCount are the README's types.
type PageView struct {
	URL  string    `parquet:"url" json:"url"`
	User string    `parquet:"user" json:"user"`
	At   time.Time `parquet:"at,timestamp(millisecond)" json:"at"`
}

type URLCount struct {
	URL    string    `parquet:"url"`
	Minute time.Time `parquet:"minute,timestamp(millisecond)"`
	Views  int64     `parquet:"views"`
}

var (
	start = time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)
	urls  = []string{"/", "/docs", "/pricing", "/blog", "/signup"}
)

// hash is a deterministic pseudo-random number for index i.
func hash(i int64) uint64 {
	h := fnv.New64a()
	fmt.Fprint(h, i)
	return h.Sum64()
}

// view is page view i: one every 30 ms of event time from start, up to 2 s out of order.
func view(i int64) PageView {
	h := hash(i)
	at := start.Add(time.Duration(i)*30*time.Millisecond - time.Duration(h%2000)*time.Millisecond)
	return PageView{URL: urls[h%uint64(len(urls))], User: fmt.Sprintf("user-%d", h>>32%100), At: at}
}

// collect gathers a collection's values with a foreach sink.
func collect[T any](s pipeline.Scope, col pipeline.PCollection[T]) func() []T {
	var mu sync.Mutex
	var out []T
	foreach.Write(s, col, func(_ context.Context, v T) error {
		mu.Lock()
		defer mu.Unlock()
		out = append(out, v)
		return nil
	})
	return func() []T {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(out)
	}
}

// The README's pipeline, run for real: page views published to a Kafka broker (kfake, on 127.0.0.1) by a first
// pipeline (the generator and the Kafka sink), then counted per URL and minute by the README's pipeline, streamed
// from the topic into Parquet files in a local folder with checkpoints, until the topic has been idle for a
// second. The Parquet rows, read back, add up to the counts computed in plain Go.
func TestReadmePipeline(t *testing.T) {
	ctx := context.Background()
	cluster, err := kfake.NewCluster(kfake.Ports(0), kfake.SeedTopics(4, "views"))
	require.NoError(t, err)
	defer cluster.Close()
	brokers := cluster.ListenAddrs()

	const n = 20_000 // 10 minutes of page views
	{
		p := pipeline.New()
		s := p.Root()
		views := generate.Read(s, generate.Config[PageView]{Count: n, Splits: 1,
			Func: func(i int64) (PageView, pipeline.Time) { v := view(i); return v, pipeline.TimeOf(v.At) }})
		kafkaio.Write(s, views, kafkaio.WriteConfig[PageView]{Brokers: brokers, Topic: "views",
			Encode: func(v PageView) (kafkaio.Message, error) {
				m, err := kafkaio.EncodeJSON(v)
				m.Key = []byte(v.URL)
				return m, err
			}})
		require.NoError(t, local.New(local.Config{}).Run(ctx, p))
	}

	reports, checkpoints := t.TempDir(), t.TempDir()
	{
		// The README's lines, with this broker, a local folder for the reports and the checkpoints, and
		// StopWhenIdle so that the job drains and ends.
		p := pipeline.New()
		s := p.Root()
		views := kafkaio.Read(s, kafkaio.ReadConfig[PageView]{
			Brokers: brokers, Topic: "views", Decode: kafkaio.DecodeJSON[PageView]},
			pipeline.OutOfOrderness(5*time.Second))
		perMinute := windowing.Into(s, views, windowing.Fixed{Size: time.Minute},
			windowing.WithTrigger(windowing.AfterWatermark{Early: windowing.Every(10 * time.Second)}),
			windowing.AllowedLateness(10*time.Minute))
		byURL := transforms.KeyBy(s, perMinute, func(v PageView) string { return v.URL })
		counts := transforms.CountPerKey(s, byURL)
		rows := transforms.MapWindowed(s, counts, func(c transforms.KV[string, int64], w pipeline.Window) URLCount {
			return URLCount{URL: c.Key, Minute: w.Start.Std(), Views: c.Value}
		})
		parquetio.Write(s, rows, parquetio.WriteConfig[URLCount]{URL: reports})
		r := local.New(local.Config{Mode: local.Stream, Checkpoints: local.DirStore(checkpoints), StopWhenIdle: time.Second})
		require.NoError(t, r.Run(ctx, p))
		st := r.Stats()
		require.Equal(t, int64(n), st.Records)
		require.Zero(t, st.LateDropped())
		require.Positive(t, st.Panes.OnTime)
	}

	// Read the reports back and add up the panes of each URL and minute.
	p := pipeline.New()
	s := p.Root()
	got := collect(s, parquetio.Read(s, parquetio.ReadConfig[URLCount]{URL: reports}))
	require.NoError(t, local.New(local.Config{}).Run(ctx, p))
	type key struct {
		url    string
		minute time.Time
	}
	sums, want := map[key]int64{}, map[key]int64{}
	for _, r := range got() {
		sums[key{r.URL, r.Minute.UTC()}] += r.Views
	}
	for i := range int64(n) {
		v := view(i)
		want[key{v.URL, v.At.Truncate(time.Minute)}]++
	}
	require.Equal(t, want, sums)
}

// Click is one event of the sessionized pipeline.
type Click struct {
	User  string
	Value int64
}

// Session is one output row: a user's session and the sum of its values.
type Session struct {
	User       string
	Start, End time.Time
	Sum        int64
}

const gap = 5 * time.Minute

// click is event i: 50 users, one event every 7 s of event time, up to 3 s out of order; a user's events are
// about 6 minutes apart on average, so some sessions merge and others do not.
func click(i int64) (Click, time.Time) {
	h := hash(i)
	at := start.Add(time.Duration(i)*7*time.Second - time.Duration(h>>16%3000)*time.Millisecond)
	return Click{User: fmt.Sprintf("u%02d", h%50), Value: int64(h >> 40 % 100)}, at
}

// sessions is the sessionized sum as a kappa pipeline: clicks generated with their event times, sessions of
// gap per user, the sum per session, one row per session.
func sessions(s pipeline.Scope, n int64) pipeline.PCollection[Session] {
	clicks := generate.Read(s, generate.Config[Click]{Count: n, Splits: 4, OutOfOrderness: 3 * time.Second,
		Func: func(i int64) (Click, pipeline.Time) { c, at := click(i); return c, pipeline.TimeOf(at) }})
	byUser := transforms.Map(s, clicks, func(c Click) transforms.KV[string, int64] { return transforms.Pair(c.User, c.Value) })
	sums := transforms.SumPerKey(s, windowing.Into(s, byUser, windowing.Sessions{Gap: gap}))
	return transforms.MapWindowed(s, sums, func(kv transforms.KV[string, int64], w pipeline.Window) Session {
		return Session{User: kv.Key, Start: w.Start.Std(), End: w.End.Std(), Sum: kv.Value}
	})
}

// plainSessions sessionizes the same clicks in plain Go: per user, proto-sessions [t, t+gap) sorted by start merge
// while they overlap.
func plainSessions(n int64) []Session {
	type ev struct {
		at time.Time
		v  int64
	}
	byUser := map[string][]ev{}
	for i := range n {
		c, at := click(i)
		byUser[c.User] = append(byUser[c.User], ev{at.Truncate(time.Millisecond), c.Value})
	}
	var out []Session
	for user, evs := range byUser {
		sort.Slice(evs, func(a, b int) bool { return evs[a].at.Before(evs[b].at) })
		cur := Session{User: user, Start: evs[0].at, End: evs[0].at.Add(gap), Sum: evs[0].v}
		for _, e := range evs[1:] {
			if e.at.Before(cur.End) {
				cur.End = later(cur.End, e.at.Add(gap))
				cur.Sum += e.v
				continue
			}
			out = append(out, cur)
			cur = Session{User: user, Start: e.at, End: e.at.Add(gap), Sum: e.v}
		}
		out = append(out, cur)
	}
	return out
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// checksum is an order-independent checksum of session rows.
func checksum(rows []Session) uint64 {
	var c uint64
	for _, r := range rows {
		h := fnv.New64a()
		fmt.Fprint(h, r.User, r.Start.UnixMilli(), r.End.UnixMilli(), r.Sum)
		c += h.Sum64()
	}
	return c
}

func sortSessions(rows []Session) []Session {
	rows = slices.Clone(rows)
	slices.SortFunc(rows, func(a, b Session) int {
		if a.User != b.User {
			if a.User < b.User {
				return -1
			}
			return 1
		}
		return a.Start.Compare(b.Start)
	})
	for i := range rows {
		rows[i].Start, rows[i].End = rows[i].Start.UTC(), rows[i].End.UTC()
	}
	return rows
}

// A sessionized sum over generated events, in batch and in stream mode, gives the sessions plain Go computes;
// the generator's out-of-orderness promise keeps every session complete in stream mode (nothing late, no
// overlapping session panes).
func TestSessionizedSum(t *testing.T) {
	const n = 30_000 // 58 hours of clicks
	want := sortSessions(plainSessions(n))
	for _, cfg := range []local.Config{
		{Workers: 2},
		{Workers: 2, Mode: local.Stream, BatchRecords: 500},
	} {
		t.Run(cfg.Mode.String(), func(t *testing.T) {
			p := pipeline.New()
			s := p.Root()
			got := collect(s, sessions(s, n))
			r := local.New(cfg)
			require.NoError(t, r.Run(context.Background(), p))
			rows := sortSessions(got())
			require.Equal(t, len(want), len(rows))
			require.Equal(t, want, rows)
			st := r.Stats()
			require.Zero(t, st.LateDropped())
			require.Empty(t, st.Overlapping)
			require.Equal(t, int64(len(want)), st.Panes.OnTime)
			t.Logf("%s: %d sessions, checksum %016x, %s", cfg.Mode, len(rows), checksum(rows), st)
		})
	}
}
