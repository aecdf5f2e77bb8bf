package queries_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/examples/nexmark/nexmark"
	"github.com/kappaflow/kappa/examples/nexmark/queries"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
)

// lines collects a query's output as sorted lines.
type lines func() []string

func collect[T any](s pipeline.Scope, col pipeline.PCollection[T], windowed bool, format func(T) string) lines {
	res := pipelinetest.Collect(s, col)
	return func() []string {
		var out []string
		for _, e := range res.Elements() {
			l := format(e.Value)
			if windowed {
				l = fmt.Sprintf("[%d,%d) ", int64(e.Window.Start), int64(e.Window.End)) + l
			}
			out = append(out, l)
		}
		slices.Sort(out)
		return out
	}
}

type queryCase struct {
	name string
	run  func(s pipeline.Scope, events pipeline.PCollection[nexmark.Event], p queries.Params) lines
	ref  func(events []nexmark.Event, p refParams) []string
}

var cases = []queryCase{
	{"q0", func(s pipeline.Scope, ev pipeline.PCollection[nexmark.Event], _ queries.Params) lines {
		return collect(s, queries.Q0(s, ev), false, nexmark.Event.String)
	}, func(ev []nexmark.Event, _ refParams) []string { return ref0(ev) }},
	{"q1", func(s pipeline.Scope, ev pipeline.PCollection[nexmark.Event], _ queries.Params) lines {
		return collect(s, queries.Q1(s, ev), false, func(b nexmark.Bid) string { return fmt.Sprintf("%+v", b) })
	}, func(ev []nexmark.Event, _ refParams) []string { return ref1(ev) }},
	{"q2", func(s pipeline.Scope, ev pipeline.PCollection[nexmark.Event], p queries.Params) lines {
		return collect(s, queries.Q2(s, ev, p), false, func(a queries.AuctionPrice) string { return fmt.Sprintf("%d %d", a.Auction, a.Price) })
	}, ref2},
	{"q3", func(s pipeline.Scope, ev pipeline.PCollection[nexmark.Event], p queries.Params) lines {
		return collect(s, queries.Q3(s, ev, p), false, func(r queries.NameCityStateID) string {
			return fmt.Sprintf("%s|%s|%s|%d", r.Name, r.City, r.State, r.ID)
		})
	}, ref3},
	{"q4", func(s pipeline.Scope, ev pipeline.PCollection[nexmark.Event], p queries.Params) lines {
		return collect(s, queries.Q4(s, ev, p), true, func(r queries.CategoryPrice) string { return fmt.Sprintf("%d %d", r.Category, r.Price) })
	}, ref4},
	{"q5", func(s pipeline.Scope, ev pipeline.PCollection[nexmark.Event], p queries.Params) lines {
		return collect(s, queries.Q5(s, ev, p), true, func(r queries.AuctionCount) string { return fmt.Sprintf("%d %d", r.Auction, r.Count) })
	}, ref5},
	{"q6", func(s pipeline.Scope, ev pipeline.PCollection[nexmark.Event], p queries.Params) lines {
		// Panes per micro-batch: the last pane of each seller is the result.
		res := pipelinetest.Collect(s, queries.Q6(s, ev, p))
		return func() []string {
			last := map[int64]pipeline.Element[queries.SellerPrice]{}
			for _, e := range res.Elements() {
				if l, ok := last[e.Value.Seller]; !ok || e.Pane.Index > l.Pane.Index {
					last[e.Value.Seller] = e
				}
			}
			var out []string
			for _, e := range last {
				out = append(out, fmt.Sprintf("%d %d", e.Value.Seller, e.Value.Price))
			}
			slices.Sort(out)
			return out
		}
	}, ref6},
	{"q7", func(s pipeline.Scope, ev pipeline.PCollection[nexmark.Event], p queries.Params) lines {
		return collect(s, queries.Q7(s, ev, p), true, func(b nexmark.Bid) string { return fmt.Sprintf("%+v", b) })
	}, ref7},
	{"q8", func(s pipeline.Scope, ev pipeline.PCollection[nexmark.Event], p queries.Params) lines {
		return collect(s, queries.Q8(s, ev, p), true, func(r queries.IDNameReserve) string { return fmt.Sprintf("%d %s %d", r.ID, r.Name, r.Reserve) })
	}, ref8},
	{"q11", func(s pipeline.Scope, ev pipeline.PCollection[nexmark.Event], p queries.Params) lines {
		return collect(s, queries.Q11(s, ev, p), true, func(r queries.BidsPerSession) string { return fmt.Sprintf("%d %d", r.Bidder, r.Bids) })
	}, ref11},
	{"q12", func(s pipeline.Scope, ev pipeline.PCollection[nexmark.Event], p queries.Params) lines {
		// Processing-time panes: their sum per bidder is the result.
		res := pipelinetest.Collect(s, queries.Q12(s, ev, p))
		return func() []string {
			n := map[int64]int64{}
			for _, r := range res.Values() {
				n[r.Bidder] += r.Bids
			}
			var out []string
			for b, c := range n {
				out = append(out, fmt.Sprintf("%d %d", b, c))
			}
			slices.Sort(out)
			return out
		}
	}, func(ev []nexmark.Event, _ refParams) []string { return ref12(ev) }},
}

// configs are the generator configurations and query parameters the queries are checked on: Beam's defaults at
// a low event rate (so that a few thousand events span several 10 s windows), and a mix of several generators,
// out-of-order groups and short windows.
func configs(t *testing.T) []struct {
	name string
	gen  nexmark.Config
	p    queries.Params
} {
	a := nexmark.DefaultConfig(20000)
	a.FirstEventRate = 200 // 100 s of event time
	ga, err := nexmark.NewGenerator(a)
	require.NoError(t, err)
	b := nexmark.DefaultConfig(10000)
	b.FirstEventRate = 1000
	b.NumEventGenerators = 2
	b.OutOfOrderGroupSize = 10
	b.NumInFlightAuctions = 20
	gb, err := nexmark.NewGenerator(b)
	require.NoError(t, err)
	pb := queries.DefaultParams(gb)
	pb.WindowSize, pb.WindowPeriod, pb.AuctionSkip = time.Second, 500*time.Millisecond, 7
	return []struct {
		name string
		gen  nexmark.Config
		p    queries.Params
	}{{"defaults at 200 events/s", a, queries.DefaultParams(ga)}, {"2 generators, out of order, 1 s windows", b, pb}}
}

func toRef(p queries.Params) refParams {
	return refParams{size: p.WindowSize.Milliseconds(), period: p.WindowPeriod.Milliseconds(), skip: p.AuctionSkip,
		wait: p.MaxAuctionsWaitingTime.Milliseconds(), maxLog: p.MaxLogEvents,
		lateness: (p.OccasionalDelay / time.Second / 2 * time.Second).Milliseconds(), bidWait: 2 * p.ExpectedAuctionDuration.Milliseconds()}
}

// runQuery runs one query over the generated events: in batch mode without jitter when seed is 0, else in
// stream mode over jittered splits with random workers and micro-batch sizes drawn from seed.
func runQuery(t *testing.T, qc queryCase, cfg nexmark.Config, p queries.Params, seed uint64) []string {
	t.Helper()
	rc := local.Config{Workers: 2}
	splits := 3
	var wrap func(pipeline.Source[nexmark.Event]) pipeline.Source[nexmark.Event]
	if seed != 0 {
		rng := rand.New(rand.NewPCG(seed, 1))
		rc = local.Config{Mode: local.Stream, Workers: 1 + rng.IntN(3), BatchRecords: 1 + rng.IntN(1500)}
		splits = 1 + rng.IntN(5)
		wrap = func(s pipeline.Source[nexmark.Event]) pipeline.Source[nexmark.Event] {
			return pipelinetest.Jitter(s, seed)
		}
	}
	src, err := nexmark.NewSource(cfg, nexmark.SourceConfig{Splits: splits})
	require.NoError(t, err)
	pl := pipeline.New()
	s := pl.Root()
	var in pipeline.Source[nexmark.Event] = src
	if wrap != nil {
		in = wrap(in)
	}
	events := pipeline.Read(s, in, src.ReadOptions()...)
	out := qc.run(s, events, p)
	st := pipelinetest.Run(t, pl, rc).Stats()
	require.Empty(t, st.Late, "%s: late data (seed %d, %+v)", qc.name, seed, rc)
	return out()
}

// Every query gives the results of its plain Go definition, in batch mode and in stream mode with random
// micro-batch sizes, split interleavings and worker counts. A failure prints the seed.
func TestQueriesMatchDefinitions(t *testing.T) {
	for _, c := range configs(t) {
		g, err := nexmark.NewGenerator(c.gen)
		require.NoError(t, err)
		events := make([]nexmark.Event, g.Len())
		for i := range events {
			events[i] = g.Event(int64(i))
		}
		for _, qc := range cases {
			t.Run(c.name+"/"+qc.name, func(t *testing.T) {
				want := qc.ref(events, toRef(c.p))
				require.NotEmpty(t, want, "the reference finds results")
				got := runQuery(t, qc, c.gen, c.p, 0)
				require.Equal(t, len(want), len(got), "batch: number of results")
				require.Equal(t, want, got, "batch")
				for range 2 {
					seed := rand.Uint64() | 1
					got := runQuery(t, qc, c.gen, c.p, seed)
					require.Equal(t, want, got, "stream, seed %d", seed)
				}
			})
		}
	}
}

// A query that needs event time stops with a clear error on events without one (here a collection of events
// created without timestamps, read as a stream), naming the query; queries without windows run.
func TestQueriesNeedEventTime(t *testing.T) {
	g, err := nexmark.NewGenerator(nexmark.DefaultConfig(500))
	require.NoError(t, err)
	var events []nexmark.Event
	for i := range g.Len() {
		events = append(events, g.Event(i))
	}
	p := queries.DefaultParams(g)
	for _, qc := range cases {
		pl := pipeline.New()
		s := pl.Root()
		qc.run(s, pipelinetest.Create(s, events...), p)
		err := local.New(local.Config{Mode: local.Stream}).Run(t.Context(), pl)
		switch qc.name {
		case "q0", "q1", "q2", "q12":
			require.NoError(t, err, qc.name)
		default:
			require.Error(t, err, qc.name)
			require.True(t, errors.Is(err, queries.ErrNoEventTime), "%s: %v", qc.name, err)
			require.ErrorContains(t, err, qc.name+" needs event times")
		}
	}
}
