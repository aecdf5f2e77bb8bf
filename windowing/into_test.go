package windowing_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

var modes = []local.Config{
	{Workers: 1},
	{Workers: 4},
	{Workers: 2, Mode: local.Stream, BatchRecords: 1},
}

func runAll(t *testing.T, build func(s pipeline.Scope)) {
	t.Helper()
	for _, cfg := range modes {
		p := pipeline.New()
		build(p.Root())
		cfg.Logger = slog.New(slog.DiscardHandler)
		pipelinetest.Run(t, p, cfg)
	}
}

func el[T any](v T, t int64, w pipeline.Window) pipeline.Element[T] {
	return pipeline.Element[T]{Value: v, Time: pipeline.Time(t), Window: w, Pane: pipeline.NoFiringPane}
}

// Into puts each element in its windows, keeping its timestamp: one window for Fixed, Sessions (the proto-session
// [t, t+gap)) and Global, every containing window for Sliding.
func TestIntoAssignsWindows(t *testing.T) {
	tests := []struct {
		name string
		fn   windowing.WindowFn
		want []pipeline.Element[string]
	}{
		{"Fixed", windowing.Fixed{Size: 10 * ms}, []pipeline.Element[string]{el("a", -1, win(-10, 0)), el("b", 10, win(10, 20)), el("c", 19, win(10, 20))}},
		{"Fixed offset", windowing.Fixed{Size: 10 * ms, Offset: 5 * ms}, []pipeline.Element[string]{el("a", -1, win(-5, 5)), el("b", 10, win(5, 15)), el("c", 19, win(15, 25))}},
		{"Sliding", windowing.Sliding{Size: 20 * ms, Period: 10 * ms}, []pipeline.Element[string]{
			el("a", -1, win(-20, 0)), el("a", -1, win(-10, 10)),
			el("b", 10, win(0, 20)), el("b", 10, win(10, 30)),
			el("c", 19, win(0, 20)), el("c", 19, win(10, 30))}},
		{"Sessions", windowing.Sessions{Gap: 5 * ms}, []pipeline.Element[string]{el("a", -1, win(-1, 4)), el("b", 10, win(10, 15)), el("c", 19, win(19, 24))}},
		{"Global", windowing.Global{}, []pipeline.Element[string]{el("a", -1, pipeline.GlobalWindow), el("b", 10, pipeline.GlobalWindow), el("c", 19, pipeline.GlobalWindow)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runAll(t, func(s pipeline.Scope) {
				in := pipelinetest.CreateTimed(s, pipelinetest.AtMillis("a", -1), pipelinetest.AtMillis("b", 10), pipelinetest.AtMillis("c", 19))
				w := windowing.Into(s, in, tt.fn)
				pipelinetest.EqualsElements(s, w, tt.want...)
				require.Equal(t, tt.fn, windowing.Of(w).WindowFn())
			})
		})
	}
}

func TestIntoOptions(t *testing.T) {
	p := pipeline.New()
	s := p.Root()
	in := pipelinetest.Create(s, 1)
	w := windowing.Into(s, in, windowing.Fixed{Size: time.Minute},
		windowing.WithTrigger(windowing.AfterWatermark{Late: windowing.EveryN(1)}),
		windowing.AllowedLateness(time.Hour), windowing.AccumulatingPanes(), windowing.OnTimeIfNonEmpty())
	st := windowing.Of(w)
	require.Equal(t, &windowing.Strategy{Fn: windowing.Fixed{Size: time.Minute}, Trigger: windowing.AfterWatermark{Late: windowing.AfterCount{N: 1}},
		Accumulation: windowing.Accumulating, AllowedLateness: time.Hour, OnTimeIfNonEmpty: true}, st)
	d := windowing.Of(windowing.Into(s, w, windowing.Sliding{Size: time.Minute, Period: time.Second}, windowing.AccumulatingPanes(), windowing.DiscardingPanes()))
	require.Equal(t, windowing.Discarding, d.Accumulation)
	require.True(t, d.Deferred, "sliding windows are assigned by the next window-observing transform")
	require.Equal(t, &windowing.Strategy{}, windowing.Of(in), "an unwindowed collection is in the global window")
	require.Equal(t, &windowing.Strategy{}, windowing.Of(pipeline.PCollection[int]{}))
	require.Equal(t, "WindowInto: WindowInto(Fixed(1m0s))  in: Create.out0  out: WindowInto.out0 (int)", firstLines(p.String(), 2)[1])
	require.NoError(t, p.Err())
}

func firstLines(s string, n int) []string {
	var out []string
	for len(out) < n {
		i := 0
		for i < len(s) && s[i] != '\n' {
			i++
		}
		out = append(out, s[:i])
		if i == len(s) {
			break
		}
		s = s[i+1:]
	}
	return out
}

func TestIntoErrors(t *testing.T) {
	tests := []struct {
		name string
		fn   windowing.WindowFn
		opts []windowing.Option
		want string
	}{
		{"nil", nil, nil, "w: WindowInto: nil WindowFn"},
		{"invalid fixed", windowing.Fixed{}, nil, "w: WindowInto: fixed windows: size 0s must be at least 1ms"},
		{"invalid sliding", windowing.Sliding{Size: time.Second}, nil, "w: WindowInto: sliding windows: size 1s and period 0s must be at least 1ms"},
		{"invalid sessions", windowing.Sessions{}, nil, "w: WindowInto: sessions: gap 0s must be at least 1ms"},
		{"negative lateness", windowing.Global{}, []windowing.Option{windowing.AllowedLateness(-time.Second)}, "w: WindowInto: negative allowed lateness -1s"},
		{"nil trigger", windowing.Global{}, []windowing.Option{windowing.WithTrigger(windowing.Repeatedly{})}, "w: WindowInto: trigger: nil trigger"},
		{"bad count", windowing.Global{}, []windowing.Option{windowing.WithTrigger(windowing.AfterCount{})}, "w: WindowInto: trigger: AfterCount: N=0 must be at least 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pipeline.New()
			s := p.Root()
			var out pipeline.PCollection[int]
			require.NotPanics(t, func() { out = windowing.Into(s.Scope("w"), pipelinetest.Create(s, 1), tt.fn, tt.opts...) })
			require.False(t, out.Valid())
			require.EqualError(t, p.Err(), tt.want)
			require.EqualError(t, local.New(local.Config{}).Run(context.Background(), p), "kappa: invalid pipeline: "+tt.want)
		})
	}
	p := pipeline.New()
	windowing.Into(p.Root(), pipeline.PCollection[int]{}, windowing.Global{})
	require.EqualError(t, p.Err(), "WindowInto: input 0 is not a valid collection")
}

type event struct {
	Name string
	At   time.Time
}

func TestWithTimestamps(t *testing.T) {
	base := time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)
	runAll(t, func(s pipeline.Scope) {
		in := pipelinetest.Create(s, event{"a", base.Add(90 * time.Second)}, event{"b", base.Add(30 * time.Second)}, event{"c", base.Add(61 * time.Second)})
		stamped := windowing.WithTimestamps(s, in, func(e event) time.Time { return e.At })
		names := transforms.Map(s, stamped, func(e event) string { return e.Name })
		t0 := pipeline.TimeOf(base)
		g := pipeline.GlobalWindow
		pipelinetest.EqualsElements(s, names, el("a", int64(t0)+90000, g), el("b", int64(t0)+30000, g), el("c", int64(t0)+61000, g))
		perMinute := transforms.CountAll(s, windowing.Into(s, names, windowing.Fixed{Size: time.Minute}))
		m := func(i int64) pipeline.Window { return win(int64(t0)+i*60000, int64(t0)+(i+1)*60000) }
		fired := func(v int64, w pipeline.Window) pipeline.Element[int64] {
			return pipeline.Element[int64]{Value: v, Time: w.MaxTimestamp(), Window: w, Pane: pipeline.Pane{Timing: pipeline.OnTime, First: true, Last: true}}
		}
		pipelinetest.EqualsElements(s, perMinute, fired(1, m(0)), fired(2, m(1)))
		// Millisecond event times.
		ms := windowing.WithEventTime(s, pipelinetest.Create(s, 5, 15), func(v int) pipeline.Time { return pipeline.Time(v) })
		pipelinetest.EqualsElements(s, ms, el(5, 5, g), el(15, 15, g))
	})
	p := pipeline.New()
	windowing.WithTimestamps[int](p.Root().Scope("x"), pipelinetest.Create(p.Root(), 1), nil)
	require.EqualError(t, p.Err(), "x: WithTimestamps: nil function")
}

// WithTimestamps after Into(Sliding) sees the element in each of its windows (windows stay those of the original
// timestamps, as in Beam).
func TestWithTimestampsAfterSliding(t *testing.T) {
	runAll(t, func(s pipeline.Scope) {
		in := pipelinetest.CreateTimed(s, pipelinetest.AtMillis(15, 15))
		sl := windowing.Into(s, in, windowing.Sliding{Size: 20 * ms, Period: 10 * ms})
		re := windowing.WithEventTime(s, sl, func(v int) pipeline.Time { return pipeline.Time(v + 1) })
		pipelinetest.EqualsElements(s, re, el(15, 16, win(0, 20)), el(15, 16, win(10, 30)))
	})
}
