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

// A session whose state is gone (the watermark passed its end) cannot merge with data that arrives afterwards,
// yet that data is not late when its own proto-session ends after the watermark: the stream then emits two
// overlapping sessions for one key, where an in-order run emits one. Within the Beam model, but it must not be
// silent: Stats.Overlapping counts such panes, per transform, and a warning is logged.
func TestOverlappingSessionsAreCounted(t *testing.T) {
	ms := func(n int64) time.Time { return time.UnixMilli(n * 1000) }
	for _, tc := range []struct {
		name    string
		script  func(*teststream.Stream[string]) *teststream.Stream[string]
		want    []transforms.KV[string, int64]
		overlap int64
	}{
		{
			name: "out of order beyond the bound",
			script: func(ts *teststream.Stream[string]) *teststream.Stream[string] {
				return ts.AddElements(teststream.At("a", ms(0))).
					AddElements(teststream.At("a", ms(12))).AdvanceWatermark(ms(12)). // [0s,10s) fires and goes
					AddElements(teststream.At("a", ms(5)))                            // not late: [5s,15s) ends after 12s
			},
			// An in-order run would emit one session a=3; this one emits [0,10) and [5,22).
			want:    []transforms.KV[string, int64]{transforms.Pair("a", int64(1)), transforms.Pair("a", int64(2))},
			overlap: 1,
		},
		{
			name: "in order",
			script: func(ts *teststream.Stream[string]) *teststream.Stream[string] {
				return ts.AddElements(teststream.At("a", ms(0)), teststream.At("a", ms(5))).
					AddElements(teststream.At("a", ms(12))).AdvanceWatermark(ms(12))
			},
			want: []transforms.KV[string, int64]{transforms.Pair("a", int64(3))},
		},
		{
			name: "a later session of the same key that does not overlap",
			script: func(ts *teststream.Stream[string]) *teststream.Stream[string] {
				return ts.AddElements(teststream.At("a", ms(0))).AdvanceWatermark(ms(11)).
					AddElements(teststream.At("a", ms(10)))
			},
			want: []transforms.KV[string, int64]{transforms.Pair("a", int64(1)), transforms.Pair("a", int64(1))},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := pipeline.New()
			s := p.Root()
			ts := tc.script(teststream.New[string](time.Unix(1000, 0)))
			sessions := windowing.Into(s, teststream.Read(s, ts), windowing.Sessions{Gap: 10 * time.Second})
			counts := transforms.Count(s, sessions)
			pipelinetest.Equals(s, counts, tc.want...)
			r := teststream.Run(t, p, ts.Clock())
			st := r.Stats()
			require.Equal(t, tc.overlap, st.Overlapping["Count/CombinePerKey"], "overlapping panes: %v", st.Overlapping)
			require.Zero(t, st.Late["Count/CombinePerKey"], "nothing here is late")
		})
	}
}
