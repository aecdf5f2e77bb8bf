package windowing_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/windowing"
)

const ms = time.Millisecond

func win(start, end int64) pipeline.Window {
	return pipeline.Window{Start: pipeline.Time(start), End: pipeline.Time(end)}
}

func TestAssignWindows(t *testing.T) {
	tests := []struct {
		name string
		fn   windowing.WindowFn
		t    int64
		want []pipeline.Window
	}{
		{"fixed start", windowing.Fixed{Size: 10 * ms}, 0, []pipeline.Window{win(0, 10)}},
		{"fixed last ms", windowing.Fixed{Size: 10 * ms}, 9, []pipeline.Window{win(0, 10)}},
		{"fixed next", windowing.Fixed{Size: 10 * ms}, 10, []pipeline.Window{win(10, 20)}},
		{"fixed negative", windowing.Fixed{Size: 10 * ms}, -1, []pipeline.Window{win(-10, 0)}},
		{"fixed negative boundary", windowing.Fixed{Size: 10 * ms}, -10, []pipeline.Window{win(-10, 0)}},
		{"fixed offset", windowing.Fixed{Size: 10 * ms, Offset: 3 * ms}, 2, []pipeline.Window{win(-7, 3)}},
		{"fixed offset boundary", windowing.Fixed{Size: 10 * ms, Offset: 3 * ms}, 3, []pipeline.Window{win(3, 13)}},
		{"fixed offset beyond size", windowing.Fixed{Size: 10 * ms, Offset: 23 * ms}, 3, []pipeline.Window{win(3, 13)}},
		{"fixed minute", windowing.Fixed{Size: time.Minute}, 1474482600000 + 59_999, []pipeline.Window{win(1474482600000, 1474482660000)}},
		{"sliding 3 windows", windowing.Sliding{Size: 30 * ms, Period: 10 * ms}, 15, []pipeline.Window{win(10, 40), win(0, 30), win(-10, 20)}},
		{"sliding on a boundary", windowing.Sliding{Size: 30 * ms, Period: 10 * ms}, 10, []pipeline.Window{win(10, 40), win(0, 30), win(-10, 20)}},
		{"sliding period does not divide size", windowing.Sliding{Size: 25 * ms, Period: 10 * ms}, 24, []pipeline.Window{win(20, 45), win(10, 35), win(0, 25)}},
		{"sliding period does not divide size (2)", windowing.Sliding{Size: 25 * ms, Period: 10 * ms}, 25, []pipeline.Window{win(20, 45), win(10, 35)}},
		{"sliding offset", windowing.Sliding{Size: 20 * ms, Period: 10 * ms, Offset: 5 * ms}, 5, []pipeline.Window{win(5, 25), win(-5, 15)}},
		{"sliding negative", windowing.Sliding{Size: 20 * ms, Period: 10 * ms}, -1, []pipeline.Window{win(-10, 10), win(-20, 0)}},
		{"sliding gaps: inside", windowing.Sliding{Size: 10 * ms, Period: 30 * ms}, 35, []pipeline.Window{win(30, 40)}},
		{"sliding gaps: outside", windowing.Sliding{Size: 10 * ms, Period: 30 * ms}, 45, nil},
		{"sessions", windowing.Sessions{Gap: 10 * ms}, 7, []pipeline.Window{win(7, 17)}},
		{"sessions near the end of time", windowing.Sessions{Gap: time.Hour}, int64(pipeline.MaxTime) - 5, []pipeline.Window{{Start: pipeline.MaxTime - 5, End: pipeline.MaxTime}}},
		{"global", windowing.Global{}, 7, []pipeline.Window{pipeline.GlobalWindow}},
		{"global without time", windowing.Global{}, int64(pipeline.MinTime), []pipeline.Window{pipeline.GlobalWindow}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.fn.AssignWindows(nil, pipeline.Time(tt.t))
			require.Equal(t, tt.want, got)
			for _, w := range got {
				require.True(t, w.Contains(pipeline.Time(tt.t)), "%v does not contain %d", w, tt.t)
			}
			// AssignWindows appends.
			prefix := []pipeline.Window{win(1, 2)}
			require.Equal(t, append([]pipeline.Window{win(1, 2)}, tt.want...), tt.fn.AssignWindows(prefix, pipeline.Time(tt.t)))
		})
	}
	require.Equal(t, win(-7, 3), windowing.Fixed{Size: 10 * ms, Offset: 3 * ms}.Window(-7))
}

func TestSlidingSlice(t *testing.T) {
	tests := []struct {
		fn        windowing.Sliding
		t         int64
		wantWidth int64
		want      pipeline.Window
	}{
		{windowing.Sliding{Size: 30 * ms, Period: 10 * ms}, 15, 10, win(10, 20)},
		{windowing.Sliding{Size: 25 * ms, Period: 10 * ms}, 24, 5, win(20, 25)},
		{windowing.Sliding{Size: 20 * ms, Period: 10 * ms, Offset: 3 * ms}, 2, 10, win(-7, 3)},
		{windowing.Sliding{Size: 5 * time.Minute, Period: time.Minute}, -1, 60000, win(-60000, 0)},
	}
	for _, tt := range tests {
		width, slice := tt.fn.Slice(pipeline.Time(tt.t))
		require.Equal(t, pipeline.Time(tt.wantWidth), width, tt.fn.String())
		require.Equal(t, tt.want, slice, tt.fn.String())
	}
}

func TestWindowFnValidateAndString(t *testing.T) {
	tests := []struct {
		fn      windowing.WindowFn
		str     string
		wantErr string
	}{
		{windowing.Fixed{Size: time.Minute}, "Fixed(1m0s)", ""},
		{windowing.Fixed{Size: time.Minute, Offset: 10 * time.Second}, "Fixed(1m0s, offset 10s)", ""},
		{windowing.Fixed{}, "Fixed(0s)", "fixed windows: size 0s must be at least 1ms"},
		{windowing.Fixed{Size: time.Microsecond}, "Fixed(1µs)", "fixed windows: size 1µs must be at least 1ms"},
		{windowing.Fixed{Size: -time.Second}, "Fixed(-1s)", "fixed windows: size -1s must be at least 1ms"},
		{windowing.Fixed{Size: 1500 * time.Microsecond}, "Fixed(1.5ms)", "fixed windows: size 1.5ms and offset 0s must be whole milliseconds"},
		{windowing.Fixed{Size: time.Second, Offset: time.Microsecond}, "Fixed(1s, offset 1µs)", "fixed windows: size 1s and offset 1µs must be whole milliseconds"},
		{windowing.Sliding{Size: 5 * time.Minute, Period: time.Minute}, "Sliding(5m0s every 1m0s)", ""},
		{windowing.Sliding{Size: 5 * time.Minute, Period: time.Minute, Offset: time.Second}, "Sliding(5m0s every 1m0s, offset 1s)", ""},
		{windowing.Sliding{Size: time.Second, Period: time.Minute}, "Sliding(1s every 1m0s)", ""},
		{windowing.Sliding{Size: time.Minute}, "Sliding(1m0s every 0s)", "sliding windows: size 1m0s and period 0s must be at least 1ms"},
		{windowing.Sliding{Period: time.Minute}, "Sliding(0s every 1m0s)", "sliding windows: size 0s and period 1m0s must be at least 1ms"},
		{windowing.Sliding{Size: time.Minute, Period: 1500 * time.Microsecond}, "Sliding(1m0s every 1.5ms)", "sliding windows: size, period and offset must be whole milliseconds"},
		{windowing.Sessions{Gap: 30 * time.Minute}, "Sessions(30m0s)", ""},
		{windowing.Sessions{}, "Sessions(0s)", "sessions: gap 0s must be at least 1ms"},
		{windowing.Sessions{Gap: time.Microsecond}, "Sessions(1µs)", "sessions: gap 1µs must be at least 1ms"},
		{windowing.Global{}, "Global", ""},
	}
	for _, tt := range tests {
		require.Equal(t, tt.str, tt.fn.String())
		err := tt.fn.Validate()
		if tt.wantErr == "" {
			require.NoError(t, err, tt.str)
		} else {
			require.EqualError(t, err, tt.wantErr, tt.str)
		}
	}
	// Window functions are comparable values.
	require.Equal(t, windowing.WindowFn(windowing.Fixed{Size: time.Minute}), windowing.WindowFn(windowing.Fixed{Size: time.Minute}))
	require.True(t, windowing.WindowFn(windowing.Sessions{Gap: time.Second}) == windowing.WindowFn(windowing.Sessions{Gap: time.Second}))
}

func TestStrategy(t *testing.T) {
	var nilStrategy *windowing.Strategy
	require.Equal(t, windowing.Global{}, nilStrategy.WindowFn())
	require.Equal(t, windowing.Default{}, nilStrategy.TriggerOrDefault())
	require.False(t, nilStrategy.Merging())
	require.Equal(t, "Global trigger=Default discarding lateness=0s", nilStrategy.String())
	require.Nil(t, nilStrategy.DeferredAssigner())

	st := &windowing.Strategy{Fn: windowing.Sessions{Gap: time.Minute}, Trigger: windowing.AfterWatermark{Early: windowing.EveryN(3)},
		Accumulation: windowing.Accumulating, AllowedLateness: time.Hour}
	require.True(t, st.Merging())
	require.Equal(t, "Sessions(1m0s) trigger=AfterWatermark(early=AfterCount(3)) accumulating lateness=1h0m0s", st.String())
	require.Nil(t, st.DeferredAssigner())

	sl := &windowing.Strategy{Fn: windowing.Sliding{Size: 20 * ms, Period: 10 * ms}, Deferred: true}
	assign := sl.DeferredAssigner()
	require.NotNil(t, assign)
	require.Equal(t, []pipeline.Window{win(10, 30), win(0, 20)}, assign(nil, 15))

	mat := windowing.Materialized(sl)
	require.False(t, mat.Deferred)
	require.True(t, sl.Deferred, "Materialized copies")
	require.Equal(t, sl.Fn, mat.Fn)
	require.Same(t, st, windowing.Materialized(st))
}
