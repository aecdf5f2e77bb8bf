package transforms_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/pipelinetest/teststream"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

// These tests follow the running example of the Dataflow paper (Akidau et al., VLDB 2015) and "Streaming 102":
// one team's scores, summed per 2-minute fixed window of event time, arriving out of order, with a heuristic
// watermark that lets one score (9 @ 12:01:25) arrive late. Every expected pane was derived by hand from the
// model's rules; each test states them.

var noon = time.Date(2015, 8, 1, 12, 0, 0, 0, time.UTC)

func at(min, sec int) time.Time {
	return noon.Add(time.Duration(min)*time.Minute + time.Duration(sec)*time.Second)
}

func win2(start int) pipeline.Window {
	s := pipeline.TimeOf(at(start, 0))
	return pipeline.Window{Start: s, End: s + 120000}
}

// scoresScript is the arrival order of the example. Processing time starts at 12:05:00.
func scoresScript() *teststream.Stream[int64] {
	ts := teststream.New[int64](at(5, 0))
	return ts.
		AddElements(teststream.At(int64(5), at(0, 26)), teststream.At(int64(7), at(2, 26))). // proc 12:05
		AdvanceProcessingTime(time.Minute).                                                  // proc 12:06
		AdvanceWatermark(at(2, 0)).
		AddElements(teststream.At(int64(3), at(3, 39)), teststream.At(int64(4), at(4, 19))).
		AdvanceProcessingTime(time.Minute). // proc 12:07
		AddElements(teststream.At(int64(3), at(6, 39)), teststream.At(int64(8), at(3, 6)), teststream.At(int64(3), at(7, 26))).
		AdvanceWatermark(at(5, 0)).
		AddElements(teststream.At(int64(9), at(1, 25))). // late for [12:00, 12:02)
		AdvanceProcessingTime(time.Minute).              // proc 12:08
		AdvanceWatermark(at(8, 0))
}

type kv = transforms.KV[string, int64]

func pane(t pipeline.Timing, idx, nonSpec int64, last bool) pipeline.Pane {
	return pipeline.Pane{Index: idx, NonSpeculativeIndex: nonSpec, Timing: t, First: idx == 0, Last: last}
}

func out(v int64, w pipeline.Window, p pipeline.Pane) pipeline.Element[kv] {
	return pipeline.Element[kv]{Value: kv{Key: "blue", Value: v}, Time: w.MaxTimestamp(), Window: w, Pane: p}
}

func teamSums(s pipeline.Scope, ts *teststream.Stream[int64], opts []windowing.Option, gopts ...transforms.Option) pipeline.PCollection[kv] {
	scores := teststream.Read(s, ts)
	keyed := transforms.Map(s, scores, func(v int64) kv { return kv{Key: "blue", Value: v} })
	windowed := windowing.Into(s, keyed, windowing.Fixed{Size: 2 * time.Minute}, opts...)
	return transforms.SumPerKey(s, windowed, gopts...)
}

// Default trigger, no allowed lateness: one on-time pane per window, the late 9 goes to the late-data output.
func TestPaperDefaultTrigger(t *testing.T) {
	p := pipeline.New()
	s := p.Root()
	ts := scoresScript()
	var late pipeline.PCollection[kv]
	sums := teamSums(s, ts, nil, transforms.LateDataTo(&late))
	onTime := pane(pipeline.OnTime, 0, 0, true)
	pipelinetest.EqualsElements(s, sums,
		out(5, win2(0), onTime),  // fires when the watermark reaches 12:02
		out(18, win2(2), onTime), // 7+3+8, at watermark 12:05
		out(4, win2(4), onTime),  // at watermark 12:08
		out(6, win2(6), onTime),  // 3+3, at watermark 12:08
	)
	pipelinetest.EqualsElements(s, late, pipeline.Element[kv]{
		Value: kv{Key: "blue", Value: 9}, Time: pipeline.TimeOf(at(1, 25)), Window: win2(0), Pane: pipeline.NoFiringPane})
	teststream.Run(t, p, ts.Clock())
}

// Without a late-data output, the late element is counted (and logged), never silently lost.
func TestPaperLateDataIsCounted(t *testing.T) {
	p := pipeline.New()
	s := p.Root()
	ts := scoresScript()
	sums := teamSums(s, ts, nil, transforms.Name("TeamSums"))
	pipelinetest.Equals(s, transforms.Values(s, sums), 5, 18, 4, 6)
	r := teststream.Run(t, p, ts.Clock())
	require.Equal(t, map[string]int64{"TeamSums": 1}, r.Stats().Late)
}

func earlyLate(mode windowing.Option, extra ...windowing.Option) []windowing.Option {
	return append([]windowing.Option{
		windowing.WithTrigger(windowing.AfterWatermark{Early: windowing.Every(time.Minute), Late: windowing.EveryN(1)}),
		windowing.AllowedLateness(time.Hour), mode}, extra...)
}

// Early firings one minute of processing time after the first element of a pane, on-time at the watermark, late
// for each late element; accumulating panes each hold the whole window so far.
func TestPaperEarlyAndLateAccumulating(t *testing.T) {
	p := pipeline.New()
	s := p.Root()
	ts := scoresScript()
	sums := teamSums(s, ts, earlyLate(windowing.AccumulatingPanes()))
	pipelinetest.EqualsElements(s, sums,
		out(5, win2(0), pane(pipeline.Early, 0, -1, false)),  // 12:06: a minute after the 5 arrived
		out(5, win2(0), pane(pipeline.OnTime, 1, 0, false)),  // watermark 12:02: on-time pane, even with no new data
		out(14, win2(0), pane(pipeline.Late, 2, 1, false)),   // the late 9 arrives: 5+9
		out(7, win2(2), pane(pipeline.Early, 0, -1, false)),  // 12:06
		out(10, win2(2), pane(pipeline.Early, 1, -1, false)), // 12:07: 7+3
		out(18, win2(2), pane(pipeline.OnTime, 2, 0, false)), // watermark 12:05: 7+3+8
		out(4, win2(4), pane(pipeline.Early, 0, -1, false)),  // 12:07
		out(4, win2(4), pane(pipeline.OnTime, 1, 0, false)),  // watermark 12:08
		out(6, win2(6), pane(pipeline.Early, 0, -1, false)),  // 12:08: 3+3
		out(6, win2(6), pane(pipeline.OnTime, 1, 0, false)),  // watermark 12:08
	)
	teststream.Run(t, p, ts.Clock())
}

// The same firings in discarding mode: each pane holds only what arrived since the previous one, so the on-time
// panes that follow an early pane without new data are empty (sum 0), as Beam's default on-time behaviour emits.
func TestPaperEarlyAndLateDiscarding(t *testing.T) {
	p := pipeline.New()
	s := p.Root()
	ts := scoresScript()
	sums := teamSums(s, ts, earlyLate(windowing.DiscardingPanes()))
	pipelinetest.EqualsElements(s, sums,
		out(5, win2(0), pane(pipeline.Early, 0, -1, false)),
		out(0, win2(0), pane(pipeline.OnTime, 1, 0, false)),
		out(9, win2(0), pane(pipeline.Late, 2, 1, false)),
		out(7, win2(2), pane(pipeline.Early, 0, -1, false)),
		out(3, win2(2), pane(pipeline.Early, 1, -1, false)),
		out(8, win2(2), pane(pipeline.OnTime, 2, 0, false)),
		out(4, win2(4), pane(pipeline.Early, 0, -1, false)),
		out(0, win2(4), pane(pipeline.OnTime, 1, 0, false)),
		out(6, win2(6), pane(pipeline.Early, 0, -1, false)),
		out(0, win2(6), pane(pipeline.OnTime, 1, 0, false)),
	)
	teststream.Run(t, p, ts.Clock())
}

// OnTimeIfNonEmpty suppresses the empty on-time panes; pane indices count emitted panes only.
func TestPaperEarlyAndLateDiscardingOnTimeIfNonEmpty(t *testing.T) {
	p := pipeline.New()
	s := p.Root()
	ts := scoresScript()
	sums := teamSums(s, ts, earlyLate(windowing.DiscardingPanes(), windowing.OnTimeIfNonEmpty()))
	pipelinetest.EqualsElements(s, sums,
		out(5, win2(0), pane(pipeline.Early, 0, -1, false)),
		out(9, win2(0), pane(pipeline.Late, 1, 0, false)),
		out(7, win2(2), pane(pipeline.Early, 0, -1, false)),
		out(3, win2(2), pane(pipeline.Early, 1, -1, false)),
		out(8, win2(2), pane(pipeline.OnTime, 2, 0, false)),
		out(4, win2(4), pane(pipeline.Early, 0, -1, false)),
		out(6, win2(6), pane(pipeline.Early, 0, -1, false)),
	)
	teststream.Run(t, p, ts.Clock())
}

// Sessions (gap 1 minute): two sessions fire on time; a late element bridging them merges them into one session
// holding the union, which fires as a late pane.
func TestPaperSessionsMergedByLateElement(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mode   windowing.Option
		merged int64
	}{
		{"accumulating", windowing.AccumulatingPanes(), 1 + 2 + 4},
		{"discarding", windowing.DiscardingPanes(), 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := pipeline.New()
			s := p.Root()
			ts := teststream.New[kv](at(5, 0)).
				AddElements(teststream.At(kv{Key: "u", Value: 1}, at(0, 0)), teststream.At(kv{Key: "u", Value: 2}, at(1, 30)), teststream.At(kv{Key: "v", Value: 10}, at(0, 50))).
				AdvanceWatermark(at(3, 0)).
				AddElements(teststream.At(kv{Key: "u", Value: 4}, at(0, 45))) // [12:00:45, 12:01:45) overlaps both sessions of u
			in := teststream.Read(s, ts)
			sess := windowing.Into(s, in, windowing.Sessions{Gap: time.Minute}, windowing.AllowedLateness(10*time.Minute), tc.mode)
			sums := transforms.SumPerKey(s, sess)
			span := func(a, b time.Time) pipeline.Window {
				return pipeline.Window{Start: pipeline.TimeOf(a), End: pipeline.TimeOf(b)}
			}
			el := func(k string, v int64, w pipeline.Window, p pipeline.Pane) pipeline.Element[kv] {
				return pipeline.Element[kv]{Value: kv{Key: k, Value: v}, Time: w.MaxTimestamp(), Window: w, Pane: p}
			}
			pipelinetest.EqualsElements(s, sums,
				el("u", 1, span(at(0, 0), at(1, 0)), pane(pipeline.OnTime, 0, 0, false)),
				el("u", 2, span(at(1, 30), at(2, 30)), pane(pipeline.OnTime, 0, 0, false)),
				el("v", 10, span(at(0, 50), at(1, 50)), pane(pipeline.OnTime, 0, 0, false)),
				el("u", tc.merged, span(at(0, 0), at(2, 30)), pane(pipeline.Late, 1, 1, false)),
			)
			teststream.Run(t, p, ts.Clock())
		})
	}
}
