package pipelinetest_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

func runAndVerify(t *testing.T, p *pipeline.Pipeline) error {
	t.Helper()
	require.NoError(t, local.New(local.Config{Workers: 2}).Run(context.Background(), p))
	return pipelinetest.Verify(p)
}

func TestEquals(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string
		err  string
	}{
		{"same", []string{"a", "b", "a"}, []string{"a", "a", "b"}, ""},
		{"empty", nil, nil, ""},
		{"missing", []string{"a"}, []string{"a", "b"}, "check/Equals(Create.out0): got 1 elements, want 2\n  missing (1):\n    b"},
		{"unexpected", []string{"a", "c", "c"}, []string{"a"}, "check/Equals(Create.out0): got 3 elements, want 1\n  unexpected (2):\n    c\n    c"},
		{"both", []string{"x", "y"}, []string{"y", "z"}, "check/Equals(Create.out0): got 2 elements, want 2\n  missing (1):\n    z\n  unexpected (1):\n    x"},
		{"multiplicity", []string{"a", "a"}, []string{"a"}, "check/Equals(Create.out0): got 2 elements, want 1\n  unexpected (1):\n    a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pipeline.New()
			s := p.Root()
			pipelinetest.Equals(s.Scope("check"), pipelinetest.Create(s, tt.in...), tt.want...)
			err := runAndVerify(t, p)
			if tt.err == "" {
				require.NoError(t, err)
			} else {
				require.EqualError(t, err, tt.err)
			}
		})
	}
}

func TestDiffIsTruncated(t *testing.T) {
	p := pipeline.New()
	s := p.Root()
	var in []int
	for i := range 25 {
		in = append(in, 100+i)
	}
	pipelinetest.Empty(s, pipelinetest.Create(s, in...))
	err := runAndVerify(t, p)
	require.Error(t, err)
	lines := strings.Split(err.Error(), "\n")
	require.Equal(t, "Equals(Create.out0): got 25 elements, want 0", lines[0])
	require.Equal(t, "  unexpected (25):", lines[1])
	require.Equal(t, "    100", lines[2])
	require.Equal(t, "    119", lines[21])
	require.Equal(t, "    … and 5 more", lines[22])
	require.Len(t, lines, 23)
}

func TestEqualsInWindowAndElements(t *testing.T) {
	w0 := pipeline.Window{Start: 0, End: 10}
	w1 := pipeline.Window{Start: 10, End: 20}
	build := func(p *pipeline.Pipeline) pipeline.PCollection[transforms.KV[string, int64]] {
		s := p.Root()
		in := pipelinetest.CreateTimed(s, pipelinetest.AtMillis("a", 1), pipelinetest.AtMillis("a", 2), pipelinetest.AtMillis("b", 12))
		return transforms.Count(s, windowing.Into(s, in, windowing.Fixed{Size: 10 * time.Millisecond}))
	}
	onTime := pipeline.Pane{Timing: pipeline.OnTime, First: true, Last: true}

	p := pipeline.New()
	c := build(p)
	pipelinetest.EqualsInWindow(p.Root(), c, w0, transforms.Pair("a", int64(2)))
	pipelinetest.EqualsInWindow(p.Root(), c, w1, transforms.Pair("b", int64(1)))
	pipelinetest.EqualsInWindow(p.Root(), c, pipeline.Window{Start: 20, End: 30})
	pipelinetest.EqualsElements(p.Root(), c,
		pipeline.Element[transforms.KV[string, int64]]{Value: transforms.Pair("a", int64(2)), Time: 9, Window: w0, Pane: onTime},
		pipeline.Element[transforms.KV[string, int64]]{Value: transforms.Pair("b", int64(1)), Time: 19, Window: w1, Pane: onTime})
	require.NoError(t, runAndVerify(t, p))

	p = pipeline.New()
	c = build(p)
	pipelinetest.EqualsInWindow(p.Root(), c, w1, transforms.Pair("a", int64(2)))
	pipelinetest.EqualsElements(p.Root().Scope("el"), c,
		pipeline.Element[transforms.KV[string, int64]]{Value: transforms.Pair("a", int64(2)), Time: 9, Window: w0, Pane: onTime},
		pipeline.Element[transforms.KV[string, int64]]{Value: transforms.Pair("b", int64(1)), Time: 19, Window: w1, Pane: pipeline.Pane{Timing: pipeline.Early}})
	err := runAndVerify(t, p)
	require.EqualError(t, err, `EqualsInWindow(Count/CombinePerKey.out0, [1970-01-01T00:00:00.010Z, 1970-01-01T00:00:00.020Z)): got 1 elements, want 1
  missing (1):
    a=2
  unexpected (1):
    b=1
el/EqualsElements(Count/CombinePerKey.out0): got 2 elements, want 2
  missing (1):
    b=1 @[1970-01-01T00:00:00.010Z, 1970-01-01T00:00:00.020Z) early#0(ns=0) t=1970-01-01T00:00:00.019Z
  unexpected (1):
    b=1 @[1970-01-01T00:00:00.010Z, 1970-01-01T00:00:00.020Z) on-time#0(ns=0,first,last) t=1970-01-01T00:00:00.019Z`)
	require.NoError(t, pipelinetest.Verify(p), "Verify consumes the checks")
}

func TestFormatElement(t *testing.T) {
	e := pipeline.Element[transforms.KV[string, int]]{Value: transforms.Pair("k", 3), Time: 59999,
		Window: pipeline.Window{Start: 0, End: 60000}, Pane: pipeline.Pane{Index: 2, NonSpeculativeIndex: 1, Timing: pipeline.Late, Last: true}}
	require.Equal(t, "k=3 @[1970-01-01T00:00:00.000Z, 1970-01-01T00:01:00.000Z) late#2(ns=1,last) t=1970-01-01T00:00:59.999Z", pipelinetest.FormatElement(e))
	require.Equal(t, "{A:1 B:x} @[global] unknown#0(ns=0,first,last) t=-inf", pipelinetest.FormatElement(pipeline.Element[struct {
		A int
		B string
	}]{Value: struct {
		A int
		B string
	}{1, "x"}, Time: pipeline.MinTime, Window: pipeline.GlobalWindow, Pane: pipeline.NoFiringPane}))
}

func TestCreate(t *testing.T) {
	p := pipeline.New()
	s := p.Root()
	untimed := pipelinetest.Create(s, 1, 2, 3)
	timed := pipelinetest.CreateTimed(s, pipelinetest.AtMillis("x", 5), pipelinetest.At("y", time.UnixMilli(1700000000123).Add(999*time.Microsecond)))
	g := pipeline.GlobalWindow
	el := func(v int, t pipeline.Time) pipeline.Element[int] {
		return pipeline.Element[int]{Value: v, Time: t, Window: g, Pane: pipeline.NoFiringPane}
	}
	pipelinetest.EqualsElements(s, untimed, el(1, pipeline.MinTime), el(2, pipeline.MinTime), el(3, pipeline.MinTime))
	pipelinetest.EqualsElements(s, timed,
		pipeline.Element[string]{Value: "x", Time: 5, Window: g, Pane: pipeline.NoFiringPane},
		pipeline.Element[string]{Value: "y", Time: 1700000000123, Window: g, Pane: pipeline.NoFiringPane})
	require.True(t, untimed.Collection().Bounded())
	require.Contains(t, p.String(), "Create: Read(memory)  out: Create.out0 (int)\nCreate#2: Read(memory)")
	require.NoError(t, runAndVerify(t, p))
}

func TestSource(t *testing.T) {
	ctx := context.Background()
	elems := make([]pipelinetest.Timed[int], 10)
	for i := range elems {
		elems[i] = pipelinetest.AtMillis(i, int64(i*10))
	}
	src := pipelinetest.Source(elems, 3)
	require.Equal(t, "memory", src.Name())
	require.True(t, src.Bounded())
	splits, err := src.Splits(ctx)
	require.NoError(t, err)
	require.Equal(t, []pipeline.Split{{ID: "0/3", Size: 3}, {ID: "1/3", Size: 3}, {ID: "2/3", Size: 4}}, splits)

	read := func(sp pipeline.Split, pos []byte, max int) ([]int, []pipeline.Time, []byte, error) {
		r, err := src.Open(ctx, sp, pos)
		require.NoError(t, err)
		defer r.Close()
		var b pipeline.Batch[int]
		err = r.ReadBatch(ctx, &b, pipeline.Limits{MaxRecords: max})
		return b.Values, b.Times, append([]byte(nil), r.Position()...), err
	}
	vals, times, pos, err := read(splits[2], nil, 2)
	require.NoError(t, err)
	require.Equal(t, []int{6, 7}, vals)
	require.Equal(t, []pipeline.Time{60, 70}, times)
	vals, _, _, err = read(splits[2], pos, 5)
	require.ErrorIs(t, err, pipeline.ErrEndOfInput)
	require.Equal(t, []int{8, 9}, vals, "a reader opened at a position continues after it")
	_, err = src.Open(ctx, pipeline.Split{ID: "zz"}, nil)
	require.EqualError(t, err, `memory source: bad split "zz"`)

	// An empty source has one (empty) split; fewer elements than splits give one split per element.
	splits, err = pipelinetest.Source[int](nil, 4).Splits(ctx)
	require.NoError(t, err)
	require.Len(t, splits, 1)
	splits, err = pipelinetest.Source(elems[:2], 4).Splits(ctx)
	require.NoError(t, err)
	require.Len(t, splits, 2)
	splits, err = pipelinetest.Source(elems, 0).Splits(ctx)
	require.NoError(t, err)
	require.Len(t, splits, 1, "at least one split")
}

// Collect's sink is exactly-once: a token committed twice publishes once, and nothing is visible before Commit.
func TestCollectSinkExactlyOnce(t *testing.T) {
	ctx := context.Background()
	p := pipeline.New()
	res := pipelinetest.Collect(p.Root(), pipelinetest.Create(p.Root(), 1))
	require.Equal(t, "collect", res.Name())
	w, err := res.Open(ctx, pipeline.Shard{Index: 0, Count: 1})
	require.NoError(t, err)
	e := func(v int) pipeline.Element[int] { return pipeline.Element[int]{Value: v} }
	require.NoError(t, w.Write(ctx, []pipeline.Element[int]{e(1), e(2)}))
	require.Empty(t, res.Values())
	tok1, err := w.Prepare(ctx, pipeline.Epoch{ID: 0})
	require.NoError(t, err)
	require.NoError(t, w.Write(ctx, []pipeline.Element[int]{e(3)}))
	tok2, err := w.Prepare(ctx, pipeline.Epoch{ID: 1})
	require.NoError(t, err)
	require.Empty(t, res.Values(), "nothing visible before Commit")
	require.NoError(t, w.Commit(ctx, tok1))
	require.NoError(t, w.Commit(ctx, tok1))
	require.Equal(t, []int{1, 2}, res.Values())
	require.NoError(t, w.Commit(ctx, tok2))
	require.Equal(t, []int{1, 2, 3}, res.Values())
	require.Len(t, res.Elements(), 3)
	require.NoError(t, w.Close(ctx))
}

// fakeTB records what pipelinetest.Run reports; Fatalf ends the goroutine like testing.T's.
type fakeTB struct {
	testing.TB
	mu     sync.Mutex
	errors []string
	fatal  string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Error(args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errors = append(f.errors, fmt.Sprint(args...))
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.fatal = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

func runFake(p *pipeline.Pipeline) *fakeTB {
	tb := &fakeTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		pipelinetest.Run(tb, p, local.Config{Workers: 1})
	}()
	<-done
	return tb
}

func TestRun(t *testing.T) {
	p := pipeline.New()
	s := p.Root()
	pipelinetest.Equals(s, pipelinetest.Create(s, 1, 2), 1, 2)
	r := pipelinetest.Run(t, p)
	require.Equal(t, int64(2), r.Stats().Records)

	p = pipeline.New()
	s = p.Root()
	pipelinetest.Equals(s, pipelinetest.Create(s, 1, 2), 1, 3)
	tb := runFake(p)
	require.Empty(t, tb.fatal)
	require.Equal(t, []string{"Equals(Create.out0): got 2 elements, want 2\n  missing (1):\n    3\n  unexpected (1):\n    2"}, tb.errors)

	p = pipeline.New()
	s = p.Root()
	pipelinetest.Equals(s, transforms.MapErr(s, pipelinetest.Create(s, 1), func(int) (int, error) { return 0, errors.New("no") }))
	tb = runFake(p)
	require.Equal(t, "pipeline run failed: MapErr: element 1: no", tb.fatal)
	require.Empty(t, tb.errors)

	p = pipeline.New()
	transforms.Map[int, int](p.Root(), pipelinetest.Create(p.Root(), 1), nil)
	tb = runFake(p)
	require.Equal(t, "pipeline run failed: kappa: invalid pipeline: Map: nil function", tb.fatal)
}
