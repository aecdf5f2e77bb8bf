package transforms_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

func TestMap(t *testing.T) {
	tests := []struct {
		name string
		in   []int
		fn   func(int) string
		want []string
	}{
		{"empty", nil, strconv.Itoa, nil},
		{"one", []int{7}, strconv.Itoa, []string{"7"}},
		{"many", []int{1, 2, 3, 2}, func(i int) string { return strings.Repeat("x", i) }, []string{"x", "xx", "xxx", "xx"}},
		{"to constant", []int{1, 2, 3}, func(int) string { return "c" }, []string{"c", "c", "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachMode(t, allModes, func(s pipeline.Scope) {
				out := transforms.Map(s, pipelinetest.Create(s, tt.in...), tt.fn)
				pipelinetest.Equals(s, out, tt.want...)
			})
		})
	}
}

// Element-wise transforms keep each element's timestamp, window and pane.
func TestElementwiseKeepMetadata(t *testing.T) {
	w0, w1 := win(0, 10), win(10, 20)
	noPane := pipeline.NoFiringPane
	el := func(v string, ms int64, w pipeline.Window) pipeline.Element[string] {
		return pipeline.Element[string]{Value: v, Time: pipeline.Time(ms), Window: w, Pane: noPane}
	}
	tests := []struct {
		name  string
		apply func(s pipeline.Scope, in pipeline.PCollection[string]) pipeline.PCollection[string]
		want  []pipeline.Element[string]
	}{
		{"Map", func(s pipeline.Scope, in pipeline.PCollection[string]) pipeline.PCollection[string] {
			return transforms.Map(s, in, strings.ToUpper)
		}, []pipeline.Element[string]{el("A", 1, w0), el("B", 12, w1), el("C", 19, w1)}},
		{"FlatMap", func(s pipeline.Scope, in pipeline.PCollection[string]) pipeline.PCollection[string] {
			return transforms.FlatMap(s, in, func(v string) []string { return []string{v, v + v} })
		}, []pipeline.Element[string]{el("a", 1, w0), el("aa", 1, w0), el("b", 12, w1), el("bb", 12, w1), el("c", 19, w1), el("cc", 19, w1)}},
		{"Filter", func(s pipeline.Scope, in pipeline.PCollection[string]) pipeline.PCollection[string] {
			return transforms.Filter(s, in, func(v string) bool { return v != "b" })
		}, []pipeline.Element[string]{el("a", 1, w0), el("c", 19, w1)}},
		{"MapErr", func(s pipeline.Scope, in pipeline.PCollection[string]) pipeline.PCollection[string] {
			return transforms.MapErr(s, in, func(v string) (string, error) { return v + "!", nil })
		}, []pipeline.Element[string]{el("a!", 1, w0), el("b!", 12, w1), el("c!", 19, w1)}},
		{"Values(KeyBy)", func(s pipeline.Scope, in pipeline.PCollection[string]) pipeline.PCollection[string] {
			return transforms.Values(s, transforms.KeyBy(s, in, func(v string) int { return len(v) }))
		}, []pipeline.Element[string]{el("a", 1, w0), el("b", 12, w1), el("c", 19, w1)}},
		{"Flatten", func(s pipeline.Scope, in pipeline.PCollection[string]) pipeline.PCollection[string] {
			return transforms.Flatten(s, in)
		}, []pipeline.Element[string]{el("a", 1, w0), el("b", 12, w1), el("c", 19, w1)}},
		{"Partition", func(s pipeline.Scope, in pipeline.PCollection[string]) pipeline.PCollection[string] {
			return transforms.Partition(s, in, 2, func(v string) int { return len(v) - 1 })[0]
		}, []pipeline.Element[string]{el("a", 1, w0), el("b", 12, w1), el("c", 19, w1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachMode(t, allModes, func(s pipeline.Scope) {
				in := pipelinetest.CreateTimed(s, timed("a", 1), timed("b", 12), timed("c", 19))
				w := windowing.Into(s, in, windowing.Fixed{Size: 10 * time.Millisecond})
				pipelinetest.EqualsElements(s, tt.apply(s, w), tt.want...)
			})
		})
	}
}

func TestFlatMap(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		fn   func(string) []string
		want []string
	}{
		{"empty input", nil, strings.Fields, nil},
		{"words", []string{"a b", "c", "", "d  e f"}, strings.Fields, []string{"a", "b", "c", "d", "e", "f"}},
		{"nil results", []string{"x", "y"}, func(string) []string { return nil }, nil},
		{"duplicates", []string{"ab"}, func(v string) []string { return []string{v, v, v} }, []string{"ab", "ab", "ab"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachMode(t, allModes, func(s pipeline.Scope) {
				pipelinetest.Equals(s, transforms.FlatMap(s, pipelinetest.Create(s, tt.in...), tt.fn), tt.want...)
			})
		})
	}
}

func TestFilter(t *testing.T) {
	even := func(i int) bool { return i%2 == 0 }
	tests := []struct {
		name string
		in   []int
		keep func(int) bool
		want []int
	}{
		{"empty", nil, even, nil},
		{"even", []int{1, 2, 3, 4, 6}, even, []int{2, 4, 6}},
		{"none", []int{1, 3}, even, nil},
		{"all", []int{2, 2}, even, []int{2, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachMode(t, allModes, func(s pipeline.Scope) {
				pipelinetest.Equals(s, transforms.Filter(s, pipelinetest.Create(s, tt.in...), tt.keep), tt.want...)
			})
		})
	}
}

func TestKeyByKeysValues(t *testing.T) {
	forEachMode(t, allModes, func(s pipeline.Scope) {
		in := pipelinetest.Create(s, "apple", "avocado", "banana")
		keyed := transforms.KeyBy(s, in, func(v string) byte { return v[0] })
		pipelinetest.Equals(s, keyed, pair(byte('a'), "apple"), pair(byte('a'), "avocado"), pair(byte('b'), "banana"))
		pipelinetest.Equals(s, transforms.Keys(s, keyed), byte('a'), byte('a'), byte('b'))
		pipelinetest.Equals(s, transforms.Values(s, keyed), "apple", "avocado", "banana")
	})
	forEachMode(t, allModes[:1], func(s pipeline.Scope) {
		keyed := transforms.KeyBy(s, pipelinetest.Create[string](s), func(v string) int { return len(v) })
		pipelinetest.Empty(s, keyed)
		pipelinetest.Empty(s, transforms.Keys(s, keyed))
		pipelinetest.Empty(s, transforms.Values(s, keyed))
	})
}

func TestKVStringAndPair(t *testing.T) {
	require.Equal(t, "a=1", transforms.Pair("a", 1).String())
	require.Equal(t, transforms.KV[string, int]{Key: "a", Value: 1}, transforms.Pair("a", 1))
}

func TestMapErrAndTryMap(t *testing.T) {
	parse := func(v string) (int, error) { return strconv.Atoi(v) }
	t.Run("TryMap routes failures", func(t *testing.T) {
		forEachMode(t, allModes, func(s pipeline.Scope) {
			in := pipelinetest.Create(s, "1", "x", "3", "", "5")
			ok, bad := transforms.TryMap(s.Scope("parse"), in, parse)
			pipelinetest.Equals(s, ok, 1, 3, 5)
			msgs := transforms.Map(s, bad, func(e *pipeline.RecordError) string {
				return fmt.Sprintf("%s|%v|%v", e.Transform, e.Value, e.Err)
			})
			pipelinetest.Equals(s, msgs,
				`parse/TryMap|x|strconv.Atoi: parsing "x": invalid syntax`,
				`parse/TryMap||strconv.Atoi: parsing "": invalid syntax`)
		})
	})
	t.Run("TryMap routes panics", func(t *testing.T) {
		forEachMode(t, batchModes, func(s pipeline.Scope) {
			in := pipelinetest.Create(s, 1, 0, 2)
			ok, bad := transforms.TryMap(s, in, func(v int) (int, error) { return 10 / v, nil })
			pipelinetest.Equals(s, ok, 10, 5)
			pipelinetest.Equals(s, transforms.Map(s, bad, func(e *pipeline.RecordError) string { return e.Error() }),
				"TryMap: panic: runtime error: integer divide by zero")
		})
	})
	t.Run("MapErr stops the pipeline", func(t *testing.T) {
		for _, m := range allModes {
			err := runErr(t, m.cfg, func(s pipeline.Scope) {
				in := pipelinetest.Create(s, "1", "2", "oops")
				pipelinetest.Collect(s, transforms.MapErr(s.Scope("parse"), in, parse))
			})
			require.EqualError(t, err, `parse/MapErr: element oops: strconv.Atoi: parsing "oops": invalid syntax`, m.name)
		}
	})
	t.Run("empty", func(t *testing.T) {
		forEachMode(t, allModes[:1], func(s pipeline.Scope) {
			ok, bad := transforms.TryMap(s, pipelinetest.Create[string](s), parse)
			pipelinetest.Empty(s, ok)
			pipelinetest.Empty(s, bad)
			pipelinetest.Empty(s, transforms.MapErr(s, pipelinetest.Create[string](s), parse))
		})
	})
}

// ctxKey carries a value from Run's context to a DoFn.
type ctxKey struct{}

func TestParDoContextAndEmitter(t *testing.T) {
	for _, m := range allModes {
		t.Run(m.name, func(t *testing.T) {
			p := pipeline.New()
			s := p.Root()
			in := pipelinetest.CreateTimed(s, timed(1, 1000), timed(2, 2000), timed(3, 3000))
			out := transforms.ParDo(s, in, transforms.DoFunc[int, string](
				func(ctx context.Context, e pipeline.Element[int], emit transforms.Emitter[string]) error {
					for range e.Value {
						emit.Emit(fmt.Sprintf("%d/%v", e.Value, ctx.Value(ctxKey{})))
					}
					// An explicit element: a new timestamp, in a window of our choosing.
					emit.EmitElement(pipeline.Element[string]{Value: "x" + strconv.Itoa(e.Value), Time: e.Time + 5,
						Window: win(0, 10000), Pane: pipeline.NoFiringPane})
					return ctx.Err()
				}))
			el := func(v string, ms int64, w pipeline.Window) pipeline.Element[string] {
				return pipeline.Element[string]{Value: v, Time: pipeline.Time(ms), Window: w, Pane: pipeline.NoFiringPane}
			}
			g := pipeline.GlobalWindow
			pipelinetest.EqualsElements(s, out,
				el("1/run", 1000, g), el("2/run", 2000, g), el("2/run", 2000, g), el("3/run", 3000, g), el("3/run", 3000, g), el("3/run", 3000, g),
				el("x1", 1005, win(0, 10000)), el("x2", 2005, win(0, 10000)), el("x3", 3005, win(0, 10000)))
			m.cfg.Logger = quiet
			ctx := context.WithValue(context.Background(), ctxKey{}, "run")
			require.NoError(t, local.New(m.cfg).Run(ctx, p))
			require.NoError(t, pipelinetest.Verify(p))
		})
	}
}

// EmitElement's timestamps drive later windowing.
func TestParDoEmitElementRetimestamps(t *testing.T) {
	forEachMode(t, batchModes, func(s pipeline.Scope) {
		in := pipelinetest.Create(s, 1500, 2500, 2600)
		stamped := transforms.ParDo(s, in, transforms.DoFunc[int, int](
			func(_ context.Context, e pipeline.Element[int], emit transforms.Emitter[int]) error {
				emit.EmitElement(pipeline.Element[int]{Value: e.Value, Time: pipeline.Time(e.Value), Window: pipeline.GlobalWindow})
				return nil
			}))
		counts := transforms.CountAll(s, windowing.Into(s, stamped, windowing.Fixed{Size: time.Second}))
		pipelinetest.EqualsElements(s, counts, fired(int64(1), win(1000, 2000)), fired(int64(2), win(2000, 3000)))
	})
}

func TestParDo2AndParDo3(t *testing.T) {
	forEachMode(t, allModes, func(s pipeline.Scope) {
		in := pipelinetest.Create(s, 1, 2, 3, 4, 5, 6)
		evens, odds := transforms.ParDo2(s, in, transforms.DoFunc2[int, int, string](
			func(_ context.Context, e pipeline.Element[int], ev transforms.Emitter[int], od transforms.Emitter[string]) error {
				if e.Value%2 == 0 {
					ev.Emit(e.Value)
				} else {
					od.Emit("odd" + strconv.Itoa(e.Value))
				}
				return nil
			}))
		pipelinetest.Equals(s, evens, 2, 4, 6)
		pipelinetest.Equals(s, odds, "odd1", "odd3", "odd5")

		small, mid, big := transforms.ParDo3(s, in, transforms.DoFunc3[int, int, string, float64](
			func(_ context.Context, e pipeline.Element[int], a transforms.Emitter[int], b transforms.Emitter[string], c transforms.Emitter[float64]) error {
				switch {
				case e.Value <= 2:
					a.Emit(e.Value)
				case e.Value <= 4:
					b.Emit(strconv.Itoa(e.Value))
					b.Emit("again")
				default:
					c.Emit(float64(e.Value) / 2)
				}
				return nil
			}))
		pipelinetest.Equals(s, small, 1, 2)
		pipelinetest.Equals(s, mid, "3", "again", "4", "again")
		pipelinetest.Equals(s, big, 2.5, 3.0)
	})
	forEachMode(t, allModes[:1], func(s pipeline.Scope) {
		in := pipelinetest.Create[int](s)
		a, b := transforms.ParDo2(s, in, transforms.DoFunc2[int, int, int](
			func(_ context.Context, e pipeline.Element[int], x, y transforms.Emitter[int]) error {
				x.Emit(1)
				y.Emit(2)
				return nil
			}))
		pipelinetest.Empty(s, a)
		pipelinetest.Empty(s, b)
	})
}

// lifecycleFn counts its Setup, ProcessElement and Teardown calls.
type lifecycleFn struct {
	setups, teardowns, elems, early atomic.Int64
	setupErr, teardownErr           error
}

func (f *lifecycleFn) Setup(context.Context) error {
	f.setups.Add(1)
	return f.setupErr
}

func (f *lifecycleFn) ProcessElement(_ context.Context, e pipeline.Element[int], emit transforms.Emitter[int]) error {
	if f.setups.Load() == 0 || f.teardowns.Load() > 0 {
		f.early.Add(1)
	}
	f.elems.Add(1)
	emit.Emit(e.Value * 10)
	return nil
}

func (f *lifecycleFn) Teardown(context.Context) error {
	f.teardowns.Add(1)
	return f.teardownErr
}

func TestParDoSetupTeardownOncePerWorker(t *testing.T) {
	for _, m := range allModes {
		t.Run(m.name, func(t *testing.T) {
			fn := &lifecycleFn{}
			p := pipeline.New()
			s := p.Root()
			in := pipelinetest.Create(s, 1, 2, 3, 4, 5, 6, 7, 8)
			pipelinetest.Equals(s, transforms.ParDo(s, in, transforms.DoFn[int, int](fn)), 10, 20, 30, 40, 50, 60, 70, 80)
			pipelinetest.Run(t, p, m.cfg)
			require.Equal(t, int64(m.cfg.Workers), fn.setups.Load(), "setups")
			require.Equal(t, int64(m.cfg.Workers), fn.teardowns.Load(), "teardowns")
			require.Equal(t, int64(8), fn.elems.Load())
			require.Zero(t, fn.early.Load(), "elements processed before Setup or after Teardown")
		})
	}
}

func TestParDoSetupTeardownErrors(t *testing.T) {
	tests := []struct {
		name    string
		fn      *lifecycleFn
		wantErr string
	}{
		{"setup", &lifecycleFn{setupErr: errors.New("no connection")}, "enrich: setup: no connection"},
		{"teardown", &lifecycleFn{teardownErr: errors.New("flush failed")}, "enrich: teardown: flush failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := runErr(t, local.Config{Workers: 1}, func(s pipeline.Scope) {
				in := pipelinetest.Create(s, 1, 2)
				pipelinetest.Collect(s, transforms.ParDo(s, in, transforms.DoFn[int, int](tt.fn), transforms.Name("enrich")))
			})
			require.EqualError(t, err, tt.wantErr)
			require.Equal(t, int64(1), tt.fn.teardowns.Load(), "Teardown runs even when Setup failed")
		})
	}
}

// A ParDo after a grouping reads each result's window, timestamp (end of window - 1 ms) and pane.
func TestParDoReadsWindowTimestampPane(t *testing.T) {
	forEachMode(t, allModes, func(s pipeline.Scope) {
		in := pipelinetest.CreateTimed(s, timed("a", 1000), timed("b", 1500), timed("a", 61000))
		w := windowing.Into(s, in, windowing.Fixed{Size: time.Minute})
		counts := transforms.Count(s, w)
		desc := transforms.ParDo(s, counts, transforms.DoFunc[transforms.KV[string, int64], string](
			func(_ context.Context, e pipeline.Element[transforms.KV[string, int64]], emit transforms.Emitter[string]) error {
				emit.Emit(fmt.Sprintf("%s=%d %s t=%d %s", e.Value.Key, e.Value.Value, e.Window, e.Time, e.Pane))
				return nil
			}))
		pipelinetest.Equals(s, desc,
			"a=1 [1970-01-01T00:00:00.000Z, 1970-01-01T00:01:00.000Z) t=59999 on-time#0(last)",
			"b=1 [1970-01-01T00:00:00.000Z, 1970-01-01T00:01:00.000Z) t=59999 on-time#0(last)",
			"a=1 [1970-01-01T00:01:00.000Z, 1970-01-01T00:02:00.000Z) t=119999 on-time#0(last)")
	})
}

func TestFlatten(t *testing.T) {
	forEachMode(t, allModes, func(s pipeline.Scope) {
		a := pipelinetest.Create(s, 1, 2)
		b := pipelinetest.Create(s, 3)
		c := pipelinetest.Create[int](s)
		pipelinetest.Equals(s, transforms.Flatten(s, a, b, c), 1, 2, 3)
		pipelinetest.Equals(s, transforms.Flatten(s, a), 1, 2)
		pipelinetest.Equals(s, transforms.Flatten(s, a, a), 1, 1, 2, 2)
		pipelinetest.Empty(s, transforms.Flatten(s, c, c))
	})
}

func TestPartition(t *testing.T) {
	tests := []struct {
		name string
		in   []int
		n    int
		fn   func(int) int
		want [][]int
	}{
		{"empty", nil, 3, func(v int) int { return v % 3 }, [][]int{nil, nil, nil}},
		{"mod 3", []int{0, 1, 2, 3, 4, 5, 7}, 3, func(v int) int { return v % 3 }, [][]int{{0, 3}, {1, 4, 7}, {2, 5}}},
		{"one", []int{5, 6}, 1, func(int) int { return 0 }, [][]int{{5, 6}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachMode(t, allModes, func(s pipeline.Scope) {
				parts := transforms.Partition(s, pipelinetest.Create(s, tt.in...), tt.n, tt.fn)
				require.Len(t, parts, tt.n)
				for i, part := range parts {
					pipelinetest.Equals(s.Scope(fmt.Sprint("part", i)), part, tt.want[i]...)
				}
			})
		})
	}
	t.Run("out of range", func(t *testing.T) {
		err := runErr(t, local.Config{Workers: 2}, func(s pipeline.Scope) {
			parts := transforms.Partition(s.Scope("route"), pipelinetest.Create(s, 1, 2, 9), 2, func(v int) int { return v - 1 })
			pipelinetest.Collect(s, parts[0])
			pipelinetest.Collect(s, parts[1])
		})
		require.EqualError(t, err, "route/Partition: element 9: partition 8 out of range [0, 2)")
	})
}
