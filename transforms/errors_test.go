package transforms_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

type kvsi = transforms.KV[string, int]

// sumPanicking is a sum combiner that panics in one of its steps.
type sumPanicking struct{ in string }

func (c sumPanicking) CreateAccumulator() int {
	if c.in == "create" {
		panic("boom in create")
	}
	return 0
}

func (c sumPanicking) AddInput(a, v int) int {
	if c.in == "add" {
		panic("boom in add")
	}
	return a + v
}

func (c sumPanicking) MergeAccumulators(a, b int) int {
	if c.in == "merge" {
		panic("boom in merge")
	}
	return a + b
}

func (c sumPanicking) ExtractOutput(a int) int {
	if c.in == "extract" {
		panic("boom in extract")
	}
	return a
}

type panicSetup struct{}

func (panicSetup) Setup(context.Context) error { panic("boom in setup") }
func (panicSetup) ProcessElement(_ context.Context, e pipeline.Element[int], emit transforms.Emitter[int]) error {
	emit.Emit(e.Value)
	return nil
}

// User functions that fail or panic stop the run with an error that names the transform (its scope path) and
// says what went wrong; a panic's error also carries the panic value and its stack. Nothing hangs.
func TestUserFunctionFailures(t *testing.T) {
	keyedIn := func(s pipeline.Scope) pipeline.PCollection[kvsi] {
		return pipelinetest.CreateTimed(s, timed(pair("a", 1), 1), timed(pair("b", 2), 2), timed(pair("a", 3), 3), timed(pair("c", 4), 15))
	}
	ints := func(s pipeline.Scope) pipeline.PCollection[int] {
		return pipelinetest.CreateTimed(s, timed(1, 1), timed(2, 2), timed(3, 3), timed(4, 4))
	}
	tests := []struct {
		name  string
		build func(s pipeline.Scope)
		want  string // the first line of the error
	}{
		{"Map panics", func(s pipeline.Scope) {
			pipelinetest.Collect(s, transforms.Map(s.Scope("job"), ints(s), func(v int) int {
				if v == 3 {
					panic("boom in map")
				}
				return v
			}))
		}, "job/Map: panic: boom in map"},
		{"Map panics with an error value", func(s pipeline.Scope) {
			pipelinetest.Collect(s, transforms.Map(s.Scope("job"), ints(s), func(v int) int { return 10 / (v - 2) }))
		}, "job/Map: panic: runtime error: integer divide by zero"},
		{"FlatMap panics", func(s pipeline.Scope) {
			pipelinetest.Collect(s, transforms.FlatMap(s.Scope("job"), ints(s), func(v int) []int { return []int{v}[:v/3+1] }))
		}, "job/FlatMap: panic: runtime error: slice bounds out of range [:2] with capacity 1"},
		{"Filter panics", func(s pipeline.Scope) {
			pipelinetest.Collect(s, transforms.Filter(s.Scope("job"), ints(s), func(v int) bool {
				if v == 4 {
					panic(fmt.Sprintf("boom in filter %d", v))
				}
				return true
			}))
		}, "job/Filter: panic: boom in filter 4"},
		{"KeyBy panics", func(s pipeline.Scope) {
			pipelinetest.Collect(s, transforms.KeyBy(s.Scope("job"), ints(s), func(v int) int { panic(errors.New("boom in key")) }))
		}, "job/KeyBy: panic: boom in key"},
		{"MapErr fails", func(s pipeline.Scope) {
			pipelinetest.Collect(s, transforms.MapErr(s.Scope("job"), ints(s), func(v int) (int, error) {
				if v == 2 {
					return 0, errors.New("two is not allowed")
				}
				return v, nil
			}))
		}, "job/MapErr: element 2: two is not allowed"},
		{"ParDo returns an error", func(s pipeline.Scope) {
			pipelinetest.Collect(s, transforms.ParDo(s.Scope("job"), ints(s), transforms.DoFunc[int, int](
				func(_ context.Context, e pipeline.Element[int], emit transforms.Emitter[int]) error {
					if e.Value == 3 {
						return fmt.Errorf("cannot process %d", e.Value)
					}
					emit.Emit(e.Value)
					return nil
				}), transforms.Name("Enrich")))
		}, "job/Enrich: cannot process 3"},
		{"ParDo panics", func(s pipeline.Scope) {
			pipelinetest.Collect(s, transforms.ParDo(s.Scope("job"), ints(s), transforms.DoFunc[int, int](
				func(_ context.Context, e pipeline.Element[int], emit transforms.Emitter[int]) error {
					var m map[int]int
					m[e.Value] = 1
					return nil
				})))
		}, "job/ParDo: panic: assignment to entry in nil map"},
		{"ParDo2 returns an error", func(s pipeline.Scope) {
			a, b := transforms.ParDo2(s.Scope("job"), ints(s), transforms.DoFunc2[int, int, string](
				func(_ context.Context, e pipeline.Element[int], x transforms.Emitter[int], y transforms.Emitter[string]) error {
					return errors.New("nope")
				}))
			pipelinetest.Collect(s, a)
			pipelinetest.Collect(s, b)
		}, "job/ParDo2: nope"},
		{"ParDo3 panics", func(s pipeline.Scope) {
			a, b, c := transforms.ParDo3(s.Scope("job"), ints(s), transforms.DoFunc3[int, int, int, int](
				func(_ context.Context, e pipeline.Element[int], x, y, z transforms.Emitter[int]) error {
					panic("boom in pardo3")
				}))
			pipelinetest.Collect(s, transforms.Flatten(s, a, b, c))
		}, "job/ParDo3: panic: boom in pardo3"},
		{"Setup panics", func(s pipeline.Scope) {
			pipelinetest.Collect(s, transforms.ParDo(s.Scope("job"), ints(s), transforms.DoFn[int, int](panicSetup{})))
		}, "job/ParDo: panic: boom in setup"},
		{"Partition panics", func(s pipeline.Scope) {
			parts := transforms.Partition(s.Scope("job"), ints(s), 2, func(v int) int { panic("boom in partition") })
			pipelinetest.Collect(s, parts[0])
		}, "job/Partition: panic: boom in partition"},
		{"WithTimestamps panics", func(s pipeline.Scope) {
			pipelinetest.Collect(s, windowing.WithTimestamps(s.Scope("job"), ints(s), func(v int) time.Time { panic("boom in timestamps") }))
		}, "job/WithTimestamps: panic: boom in timestamps"},
		{"Map after GroupByKey panics", func(s pipeline.Scope) {
			g := transforms.GroupByKey(s.Scope("job"), keyedIn(s))
			pipelinetest.Collect(s, transforms.Map(s.Scope("job"), g, func(kv transforms.KV[string, iter.Seq[int]]) int { panic("boom after group") }))
		}, "job/Map: panic: boom after group"},
	}
	for _, step := range []string{"create", "add", "merge", "extract"} {
		for _, fn := range []windowing.WindowFn{windowing.Global{}, windowing.Sliding{Size: 10 * ms, Period: 5 * ms}, windowing.Sessions{Gap: 5 * ms}} {
			tests = append(tests, struct {
				name  string
				build func(s pipeline.Scope)
				want  string
			}{fmt.Sprintf("combiner panics in %s, %v", step, fn), func(s pipeline.Scope) {
				in := windowing.Into(s, keyedIn(s), fn)
				keyed := transforms.KeyBy(s, transforms.Values(s, in), func(v int) int { return v % 2 })
				pipelinetest.Collect(s, transforms.CombinePerKey(s.Scope("job"), keyed, sumPanicking{in: step}, transforms.Name("Sum")))
			}, "job/Sum: panic: boom in " + step})
		}
		tests = append(tests, struct {
			name  string
			build func(s pipeline.Scope)
			want  string
		}{"Combine globally panics in " + step, func(s pipeline.Scope) {
			pipelinetest.Collect(s, transforms.Combine(s.Scope("job"), ints(s), sumPanicking{in: step}))
		}, "job/Combine/CombinePerKey: panic: boom in " + step})
	}
	tests = append(tests, struct {
		name  string
		build func(s pipeline.Scope)
		want  string
	}{"Top's less panics", func(s pipeline.Scope) {
		pipelinetest.Collect(s, transforms.Top(s.Scope("job"), ints(s), 2, func(a, b int) bool { panic("boom in less") }))
	}, "job/Top/CombinePerKey: panic: boom in less"})

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, cfg := range []local.Config{
				{Workers: 1},
				{Workers: 4},
				{Workers: 2, Mode: local.Stream, BatchRecords: 1},
			} {
				err := runErr(t, cfg, tt.build)
				require.Error(t, err)
				require.Equal(t, tt.want, firstLine(err), "workers=%d mode=%v:\n%v", cfg.Workers, cfg.Mode, err)
				if strings.Contains(tt.want, "panic: ") {
					require.Contains(t, err.Error(), "goroutine", "a panic's error carries its stack")
				}
			}
		})
	}
}

// unboundedSource is a source that never ends (it has no records): enough to build unbounded collections.
type unboundedSource struct{}

func (unboundedSource) Name() string  { return "forever" }
func (unboundedSource) Bounded() bool { return false }
func (unboundedSource) Splits(context.Context) ([]pipeline.Split, error) {
	return []pipeline.Split{{ID: "0"}}, nil
}
func (unboundedSource) Open(context.Context, pipeline.Split, []byte) (pipeline.SplitReader[kvsi], error) {
	return nil, errors.New("not readable")
}

// Misuse at construction time never panics: the error is recorded with its scope path and Run returns it before
// running anything.
func TestConstructionErrors(t *testing.T) {
	var invalid pipeline.PCollection[int]
	var invalidKV pipeline.PCollection[kvsi]
	tests := []struct {
		name  string
		build func(s pipeline.Scope)
		want  string
	}{
		{"Map nil", func(s pipeline.Scope) { transforms.Map[int, int](s, pipelinetest.Create(s, 1), nil) }, "c: Map: nil function"},
		{"Map invalid input", func(s pipeline.Scope) { transforms.Map(s, invalid, func(v int) int { return v }) }, "c: Map: input 0 is not a valid collection"},
		{"MapErr nil", func(s pipeline.Scope) { transforms.MapErr[int, int](s, pipelinetest.Create(s, 1), nil) }, "c: MapErr: nil function"},
		{"TryMap nil", func(s pipeline.Scope) { transforms.TryMap[int, int](s, pipelinetest.Create(s, 1), nil) }, "c: TryMap: nil function"},
		{"FlatMap nil", func(s pipeline.Scope) { transforms.FlatMap[int, int](s, pipelinetest.Create(s, 1), nil) }, "c: FlatMap: nil function"},
		{"FlatMap invalid input", func(s pipeline.Scope) { transforms.FlatMap(s, invalid, func(v int) []int { return nil }) }, "c: FlatMap: input 0 is not a valid collection"},
		{"Filter nil", func(s pipeline.Scope) { transforms.Filter(s, pipelinetest.Create(s, 1), nil) }, "c: Filter: nil function"},
		{"Filter invalid input", func(s pipeline.Scope) { transforms.Filter(s, invalid, func(int) bool { return true }) }, "c: Filter: input 0 is not a valid collection"},
		{"KeyBy nil", func(s pipeline.Scope) { transforms.KeyBy[int, int](s, pipelinetest.Create(s, 1), nil) }, "c: KeyBy: nil function"},
		{"Keys invalid input", func(s pipeline.Scope) { transforms.Keys(s, invalidKV) }, "c: Keys: input 0 is not a valid collection"},
		{"Values invalid input", func(s pipeline.Scope) { transforms.Values(s, invalidKV) }, "c: Values: input 0 is not a valid collection"},
		{"ParDo nil", func(s pipeline.Scope) { transforms.ParDo[int, int](s, pipelinetest.Create(s, 1), nil) }, "c: ParDo: nil DoFn"},
		{"ParDo nil, named", func(s pipeline.Scope) {
			transforms.ParDo[int, int](s, pipelinetest.Create(s, 1), nil, transforms.Name("Enrich"))
		}, "c: Enrich: nil DoFn"},
		{"ParDo invalid input", func(s pipeline.Scope) {
			transforms.ParDo(s, invalid, transforms.DoFunc[int, int](func(context.Context, pipeline.Element[int], transforms.Emitter[int]) error { return nil }))
		}, "c: ParDo: input 0 is not a valid collection"},
		{"ParDo2 nil", func(s pipeline.Scope) { transforms.ParDo2[int, int, int](s, pipelinetest.Create(s, 1), nil) }, "c: ParDo2: nil DoFn"},
		{"ParDo3 nil", func(s pipeline.Scope) { transforms.ParDo3[int, int, int, int](s, pipelinetest.Create(s, 1), nil) }, "c: ParDo3: nil DoFn"},
		{"Partition n=0", func(s pipeline.Scope) {
			require.Empty(t, transforms.Partition(s, pipelinetest.Create(s, 1), 0, func(int) int { return 0 }))
		}, "c: Partition: need n ≥ 1 and a function (n=0)"},
		{"Partition nil", func(s pipeline.Scope) {
			parts := transforms.Partition(s, pipelinetest.Create(s, 1), 2, nil)
			require.Len(t, parts, 2)
			require.False(t, parts[0].Valid())
		}, "c: Partition: need n ≥ 1 and a function (n=2)"},
		{"Partition invalid input", func(s pipeline.Scope) { transforms.Partition(s, invalid, 2, func(int) int { return 0 }) }, "c: Partition: input 0 is not a valid collection"},
		{"Flatten nothing", func(s pipeline.Scope) { transforms.Flatten[int](s) }, "c: Flatten: no inputs"},
		{"Flatten invalid input", func(s pipeline.Scope) { transforms.Flatten(s, pipelinetest.Create(s, 1), invalid) }, "c: Flatten: input 1 is not a valid collection"},
		{"Flatten different windowing", func(s pipeline.Scope) {
			a := pipelinetest.Create(s, 1)
			transforms.Flatten(s, a, windowing.Into(s, a, windowing.Fixed{Size: time.Minute}))
		}, "c: Flatten: input 1 has windowing Fixed(1m0s) trigger=Default discarding lateness=0s but input 0 has Global trigger=Default discarding lateness=0s; window them alike first (for example windowing.Into(s, c, windowing.Global{}))"},
		{"Flatten invalid first input", func(s pipeline.Scope) {
			transforms.Flatten(s, invalid, windowing.Into(s, pipelinetest.Create(s, 1), windowing.Fixed{Size: time.Second}))
		}, "c: Flatten: input 0 is not a valid collection"},
		{"GroupByKey invalid input", func(s pipeline.Scope) { transforms.GroupByKey(s, invalidKV) }, "c: GroupByKey: input 0 is not a valid collection"},
		{"GroupByKey unbounded global", func(s pipeline.Scope) {
			transforms.GroupByKey(s, pipeline.Read[kvsi](s, unboundedSource{}))
		}, "c: GroupByKey: an unbounded collection in the global window with the default trigger would never emit: window it (windowing.Into) or set a trigger"},
		{"GroupByKey wrong late-data type", func(s pipeline.Scope) {
			var late pipeline.PCollection[transforms.KV[string, string]]
			transforms.GroupByKey(s, pipelinetest.Create(s, pair("a", 1)), transforms.LateDataTo(&late))
		}, "c: GroupByKey: LateDataTo wants a *pipeline.PCollection[KV[string,int]], got *pipeline.PCollection[KV[string,string]]"},
		{"CombinePerKey nil", func(s pipeline.Scope) {
			transforms.CombinePerKey[string, int, int, int](s, pipelinetest.Create(s, pair("a", 1)), nil)
		}, "c: CombinePerKey: nil combiner"},
		{"CombinePerKey invalid input", func(s pipeline.Scope) { transforms.SumPerKey(s, invalidKV) }, "c: SumPerKey: input 0 is not a valid collection"},
		{"Combine invalid input", func(s pipeline.Scope) { transforms.Sum(s, invalid) }, "c/Sum: KeyByUnit: input 0 is not a valid collection"},
		{"Count invalid input", func(s pipeline.Scope) { transforms.Count(s, invalid) }, "c/Count: KeyByElement: input 0 is not a valid collection"},
		{"Distinct invalid input", func(s pipeline.Scope) { transforms.Distinct(s, invalid) }, "c/Distinct: KeyByElement: input 0 is not a valid collection"},
		{"Top n=0", func(s pipeline.Scope) {
			transforms.Top(s, pipelinetest.Create(s, 1), 0, func(a, b int) bool { return a < b })
		}, "c: Top: need n ≥ 1 and a less function (n=0)"},
		{"TopPerKey nil less", func(s pipeline.Scope) { transforms.TopPerKey(s, pipelinetest.Create(s, pair("a", 1)), 3, nil) }, "c: TopPerKey: need n ≥ 1 and a less function (n=3)"},
		{"CoGroupByKey invalid input", func(s pipeline.Scope) {
			transforms.CoGroupByKey(s, pipelinetest.Create(s, pair("a", 1)), invalidKV)
		}, "c/CoGroupByKey: TagRight: input 0 is not a valid collection"},
		{"Join invalid input", func(s pipeline.Scope) {
			transforms.Join(s, transforms.InnerJoin, invalidKV, pipelinetest.Create(s, pair("a", 1)))
		}, "c/Join/CoGroupByKey: TagLeft: input 0 is not a valid collection"},
		{"Join different windowing", func(s pipeline.Scope) {
			a := pipelinetest.Create(s, pair("a", 1))
			transforms.Join(s, transforms.InnerJoin, a, windowing.Into(s, a, windowing.Sessions{Gap: time.Second}))
		}, "c/Join/CoGroupByKey: Flatten: input 1 has windowing Sessions(1s) trigger=Default discarding lateness=0s but input 0 has Global trigger=Default discarding lateness=0s; window them alike first (for example windowing.Into(s, c, windowing.Global{}))"},
		{"an error is reported once, not by every transform downstream", func(s pipeline.Scope) {
			m := transforms.Map[int, int](s, pipelinetest.Create(s, 1), nil)
			c := transforms.Count(s, transforms.Filter(s, m, func(int) bool { return true }))
			pipelinetest.Equals(s, c)
		}, "c: Map: nil function"},
		{"every independent error is reported", func(s pipeline.Scope) {
			transforms.Map[int, int](s, pipelinetest.Create(s, 1), nil)
			transforms.Filter(s.Scope("other"), pipelinetest.Create(s, 1), nil)
		}, "c: Map: nil function\nc/other: Filter: nil function"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pipeline.New()
			require.NotPanics(t, func() { tt.build(p.Root().Scope("c")) })
			require.EqualError(t, p.Err(), tt.want)
			err := local.New(local.Config{Workers: 2}).Run(context.Background(), p)
			require.EqualError(t, err, "kappa: invalid pipeline: "+tt.want)
		})
	}
}
