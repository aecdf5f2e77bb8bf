package transforms_test

import (
	"context"
	"iter"
	"slices"
	"strconv"
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

type group = transforms.KV[string, []int]

// keyedInput is the input of the windowed grouping tables: (key, value) at a time in ms, in event-time order.
var keyedInput = []pipelinetest.Timed[transforms.KV[string, int]]{
	timed(pair("a", 1), -1),
	timed(pair("a", 2), 0),
	timed(pair("b", 3), 4),
	timed(pair("a", 4), 9),
	timed(pair("a", 5), 10),
	timed(pair("b", 6), 13),
	timed(pair("b", 7), 29),
	timed(pair("a", 8), 40),
}

const ms = time.Millisecond

var groupingWindowTests = []struct {
	name string
	fn   windowing.WindowFn
	want []pipeline.Element[group]
}{
	{"Fixed", windowing.Fixed{Size: 10 * ms}, []pipeline.Element[group]{
		fired(pair("a", []int{1}), win(-10, 0)),
		fired(pair("a", []int{2, 4}), win(0, 10)),
		fired(pair("b", []int{3}), win(0, 10)),
		fired(pair("a", []int{5}), win(10, 20)),
		fired(pair("b", []int{6}), win(10, 20)),
		fired(pair("b", []int{7}), win(20, 30)),
		fired(pair("a", []int{8}), win(40, 50)),
	}},
	{"Fixed with offset", windowing.Fixed{Size: 10 * ms, Offset: 3 * ms}, []pipeline.Element[group]{
		fired(pair("a", []int{1, 2}), win(-7, 3)),
		fired(pair("a", []int{4, 5}), win(3, 13)),
		fired(pair("b", []int{3}), win(3, 13)),
		fired(pair("b", []int{6}), win(13, 23)),
		fired(pair("b", []int{7}), win(23, 33)),
		fired(pair("a", []int{8}), win(33, 43)),
	}},
	{"Sliding", windowing.Sliding{Size: 20 * ms, Period: 10 * ms}, []pipeline.Element[group]{
		fired(pair("a", []int{1}), win(-20, 0)),
		fired(pair("a", []int{1, 2, 4}), win(-10, 10)),
		fired(pair("b", []int{3}), win(-10, 10)),
		fired(pair("a", []int{2, 4, 5}), win(0, 20)),
		fired(pair("b", []int{3, 6}), win(0, 20)),
		fired(pair("a", []int{5}), win(10, 30)),
		fired(pair("b", []int{6, 7}), win(10, 30)),
		fired(pair("b", []int{7}), win(20, 40)),
		fired(pair("a", []int{8}), win(30, 50)),
		fired(pair("a", []int{8}), win(40, 60)),
	}},
	{"Sliding with offset", windowing.Sliding{Size: 15 * ms, Period: 10 * ms, Offset: 5 * ms}, []pipeline.Element[group]{
		fired(pair("a", []int{1}), win(-15, 0)),
		fired(pair("a", []int{1, 2, 4}), win(-5, 10)),
		fired(pair("b", []int{3}), win(-5, 10)),
		fired(pair("a", []int{4, 5}), win(5, 20)),
		fired(pair("b", []int{6}), win(5, 20)),
		fired(pair("b", []int{7}), win(15, 30)),
		fired(pair("b", []int{7}), win(25, 40)),
		fired(pair("a", []int{8}), win(35, 50)),
	}},
	{"Sessions", windowing.Sessions{Gap: 5 * ms}, []pipeline.Element[group]{
		fired(pair("a", []int{1, 2}), win(-1, 5)),
		fired(pair("a", []int{4, 5}), win(9, 15)),
		fired(pair("a", []int{8}), win(40, 45)),
		fired(pair("b", []int{3}), win(4, 9)),
		fired(pair("b", []int{6}), win(13, 18)),
		fired(pair("b", []int{7}), win(29, 34)),
	}},
	{"Global", windowing.Global{}, []pipeline.Element[group]{
		fired(pair("a", []int{1, 2, 4, 5, 8}), pipeline.GlobalWindow),
		fired(pair("b", []int{3, 6, 7}), pipeline.GlobalWindow),
	}},
}

func TestGroupByKeyWindows(t *testing.T) {
	for _, tt := range groupingWindowTests {
		t.Run(tt.name, func(t *testing.T) {
			forEachMode(t, allModes, func(s pipeline.Scope) {
				in := windowing.Into(s, pipelinetest.CreateTimed(s, keyedInput...), tt.fn)
				pipelinetest.EqualsElements(s, sortedGroups(s, transforms.GroupByKey(s, in)), tt.want...)
			})
		})
	}
}

// The same table through a combiner (sums): for sliding windows this is the sliced path, which keeps partial
// sums per slice of time and must give exactly the plain definition's results.
func TestCombinePerKeyWindows(t *testing.T) {
	for _, tt := range groupingWindowTests {
		t.Run(tt.name, func(t *testing.T) {
			want := make([]pipeline.Element[transforms.KV[string, int]], len(tt.want))
			for i, e := range tt.want {
				sum := 0
				for _, v := range e.Value.Value {
					sum += v
				}
				want[i] = fired(pair(e.Value.Key, sum), e.Window)
			}
			forEachMode(t, allModes, func(s pipeline.Scope) {
				in := windowing.Into(s, pipelinetest.CreateTimed(s, keyedInput...), tt.fn)
				pipelinetest.EqualsElements(s, transforms.SumPerKey(s, in), want...)
			})
		})
	}
}

func TestGroupByKeyValuesAreReiterable(t *testing.T) {
	forEachMode(t, allModes, func(s pipeline.Scope) {
		in := pipelinetest.Create(s, pair("k", 1), pair("k", 2), pair("j", 3))
		twice := transforms.Map(s, transforms.GroupByKey(s, in), func(kv transforms.KV[string, iter.Seq[int]]) transforms.KV[string, []int] {
			a := slices.Sorted(kv.Value)
			b := slices.Sorted(kv.Value)
			return pair(kv.Key, append(a, b...))
		})
		pipelinetest.Equals(s, twice, pair("k", []int{1, 2, 1, 2}), pair("j", []int{3, 3}))
		// Stopping early is allowed.
		firsts := transforms.Map(s, transforms.GroupByKey(s, in), func(kv transforms.KV[string, iter.Seq[int]]) int {
			n := 0
			for range kv.Value {
				n++
				break
			}
			return n
		})
		pipelinetest.Equals(s, firsts, 1, 1)
		pipelinetest.Equals(s, transforms.Map(s, transforms.GroupByKey(s, in), func(kv transforms.KV[string, iter.Seq[int]]) int {
			return len(transforms.Seq(kv.Value))
		}), 2, 1)
	})
}

// Sessions merge per key: a bridging element joins two sessions into one carrying the union of their values,
// while another key's sessions stay as they are.
func TestSessionsMerge(t *testing.T) {
	tests := []struct {
		name string
		in   []pipelinetest.Timed[transforms.KV[string, int]]
		want []pipeline.Element[group]
	}{
		{"separate", []pipelinetest.Timed[transforms.KV[string, int]]{
			timed(pair("a", 1), 0), timed(pair("a", 2), 20)},
			[]pipeline.Element[group]{fired(pair("a", []int{1}), win(0, 10)), fired(pair("a", []int{2}), win(20, 30))}},
		{"touching windows do not merge", []pipelinetest.Timed[transforms.KV[string, int]]{
			timed(pair("a", 1), 0), timed(pair("a", 2), 10)},
			[]pipeline.Element[group]{fired(pair("a", []int{1}), win(0, 10)), fired(pair("a", []int{2}), win(10, 20))}},
		{"overlap extends", []pipelinetest.Timed[transforms.KV[string, int]]{
			timed(pair("a", 1), 0), timed(pair("a", 2), 9), timed(pair("a", 3), 18)},
			[]pipeline.Element[group]{fired(pair("a", []int{1, 2, 3}), win(0, 28))}},
		{"bridging element joins two sessions", []pipelinetest.Timed[transforms.KV[string, int]]{
			timed(pair("a", 1), 0), timed(pair("a", 2), 3), timed(pair("a", 3), 15), timed(pair("a", 4), 16),
			timed(pair("b", 5), 0), timed(pair("b", 6), 15),
			timed(pair("a", 7), 8)}, // arrives last, bridges [0,13) and [15,26)
			[]pipeline.Element[group]{
				fired(pair("a", []int{1, 2, 3, 4, 7}), win(0, 26)),
				fired(pair("b", []int{5}), win(0, 10)),
				fired(pair("b", []int{6}), win(15, 25)),
			}},
		{"bridging element merges three sessions", []pipelinetest.Timed[transforms.KV[string, int]]{
			timed(pair("a", 1), 0), timed(pair("a", 2), 12), timed(pair("a", 3), 24),
			timed(pair("a", 4), 6), timed(pair("a", 5), 18)},
			[]pipeline.Element[group]{fired(pair("a", []int{1, 2, 3, 4, 5}), win(0, 34))}},
		{"contained element", []pipelinetest.Timed[transforms.KV[string, int]]{
			timed(pair("a", 1), 0), timed(pair("a", 2), 8), timed(pair("a", 3), 4)},
			[]pipeline.Element[group]{fired(pair("a", []int{1, 2, 3}), win(0, 18))}},
		{"many keys independent", []pipelinetest.Timed[transforms.KV[string, int]]{
			timed(pair("a", 1), 0), timed(pair("b", 2), 5), timed(pair("c", 3), 10), timed(pair("a", 4), 15),
			timed(pair("b", 5), 14), timed(pair("c", 6), 19)},
			[]pipeline.Element[group]{
				fired(pair("a", []int{1}), win(0, 10)), fired(pair("a", []int{4}), win(15, 25)),
				fired(pair("b", []int{2, 5}), win(5, 24)),
				fired(pair("c", []int{3, 6}), win(10, 29)),
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Arrival order matters to streams (late bridging data is the paper tests' business); batch runs
			// must give the same sessions in any arrival order, and stream runs too for time-ordered input.
			sorted := slices.Clone(tt.in)
			slices.SortStableFunc(sorted, func(a, b pipelinetest.Timed[transforms.KV[string, int]]) int { return int(a.Time - b.Time) })
			for _, in := range []struct {
				name  string
				elems []pipelinetest.Timed[transforms.KV[string, int]]
				modes []runMode
			}{{"arrival order", tt.in, batchModes}, {"time order", sorted, allModes}} {
				t.Run(in.name, func(t *testing.T) {
					forEachMode(t, in.modes, func(s pipeline.Scope) {
						w := windowing.Into(s, pipelinetest.CreateTimed(s, in.elems...), windowing.Sessions{Gap: 10 * ms})
						pipelinetest.EqualsElements(s, sortedGroups(s, transforms.GroupByKey(s, w)), tt.want...)
						sums := make([]pipeline.Element[transforms.KV[string, int]], len(tt.want))
						for i, e := range tt.want {
							sum := 0
							for _, v := range e.Value.Value {
								sum += v
							}
							sums[i] = fired(pair(e.Value.Key, sum), e.Window)
						}
						pipelinetest.EqualsElements(s, transforms.SumPerKey(s, w), sums...)
					})
				})
			}
		})
	}
}

// recordingCombiner sums ints and counts the calls of each Combiner step.
type recordingCombiner struct {
	creates, adds, merges, extracts *atomic.Int64
}

func newRecordingCombiner() recordingCombiner {
	return recordingCombiner{new(atomic.Int64), new(atomic.Int64), new(atomic.Int64), new(atomic.Int64)}
}

func (c recordingCombiner) CreateAccumulator() int { c.creates.Add(1); return 0 }
func (c recordingCombiner) AddInput(a, v int) int  { c.adds.Add(1); return a + v }
func (c recordingCombiner) MergeAccumulators(a, b int) int {
	c.merges.Add(1)
	return a + b
}
func (c recordingCombiner) ExtractOutput(a int) string {
	c.extracts.Add(1)
	return "sum=" + strconv.Itoa(a)
}

// CombinePerKey adds every value on the worker that read it and ships one partial aggregate per key (and window)
// per worker through the shuffle: the consumer merges at most Workers partials per key, not N values.
func TestCombinePerKeyLiftsBeforeShuffle(t *testing.T) {
	const n = 1000
	vals := make([]transforms.KV[string, int], 0, 2*n)
	for i := range n {
		vals = append(vals, pair("x", i), pair("y", 1))
	}
	for _, m := range batchModes {
		t.Run(m.name, func(t *testing.T) {
			c := newRecordingCombiner()
			p := pipeline.New()
			s := p.Root()
			in := pipelinetest.Create(s, vals...)
			pipelinetest.Equals(s, transforms.CombinePerKey(s, in, c), pair("x", "sum=499500"), pair("y", "sum=1000"))
			pipelinetest.Run(t, p, m.cfg)
			require.Equal(t, int64(2*n), c.adds.Load(), "AddInput once per value")
			require.LessOrEqual(t, c.merges.Load(), int64(2*m.cfg.Workers), "at most one partial per key and worker crosses the shuffle")
			require.GreaterOrEqual(t, c.merges.Load(), int64(2))
			require.Equal(t, int64(2), c.extracts.Load(), "ExtractOutput once per key")
		})
	}
}

// Combine (globally) lifts the same way, and with several windows extracts once per window.
func TestCombineGlobally(t *testing.T) {
	tests := []struct {
		name string
		fn   windowing.WindowFn
		in   []pipelinetest.Timed[int]
		want []pipeline.Element[string]
	}{
		{"empty", windowing.Global{}, nil, nil},
		{"global", windowing.Global{}, []pipelinetest.Timed[int]{timed(1, 0), timed(2, 5), timed(3, 10)},
			[]pipeline.Element[string]{fired("sum=6", pipeline.GlobalWindow)}},
		{"fixed", windowing.Fixed{Size: 10 * ms}, []pipelinetest.Timed[int]{timed(1, 0), timed(2, 5), timed(3, 10)},
			[]pipeline.Element[string]{fired("sum=3", win(0, 10)), fired("sum=3", win(10, 20))}},
		{"sliding", windowing.Sliding{Size: 10 * ms, Period: 5 * ms}, []pipelinetest.Timed[int]{timed(1, 0), timed(2, 5), timed(3, 10)},
			[]pipeline.Element[string]{fired("sum=1", win(-5, 5)), fired("sum=3", win(0, 10)), fired("sum=5", win(5, 15)), fired("sum=3", win(10, 20))}},
		{"sessions", windowing.Sessions{Gap: 6 * ms}, []pipelinetest.Timed[int]{timed(1, 0), timed(2, 5), timed(3, 20)},
			[]pipeline.Element[string]{fired("sum=3", win(0, 11)), fired("sum=3", win(20, 26))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachMode(t, allModes, func(s pipeline.Scope) {
				in := windowing.Into(s, pipelinetest.CreateTimed(s, tt.in...), tt.fn)
				pipelinetest.EqualsElements(s, transforms.Combine(s, in, newRecordingCombiner()), tt.want...)
			})
		})
	}
}

func TestCombineFuncsAndBinary(t *testing.T) {
	forEachMode(t, allModes, func(s pipeline.Scope) {
		in := pipelinetest.Create(s, pair("a", 3), pair("a", 5), pair("b", 2))
		// Acc and Out of the same type: Extract may be nil.
		prod := transforms.CombineFuncs[int, int, int]{
			Create: func() int { return 1 },
			Add:    func(a, v int) int { return a * v },
			Merge:  func(a, b int) int { return a * b },
		}
		pipelinetest.Equals(s, transforms.CombinePerKey(s, in, prod), pair("a", 15), pair("b", 2))
		// Nil Create: the zero accumulator.
		strs := transforms.CombineFuncs[int, []int, int]{
			Add:     func(a []int, v int) []int { return append(a, v) },
			Merge:   func(a, b []int) []int { return append(a, b...) },
			Extract: func(a []int) int { return len(a) },
		}
		pipelinetest.Equals(s, transforms.CombinePerKey(s, in, strs), pair("a", 2), pair("b", 1))
		pipelinetest.Equals(s, transforms.CombinePerKey(s, in, transforms.Binary(func(a, b int) int { return max(a, b) })), pair("a", 5), pair("b", 2))
		pipelinetest.Equals(s, transforms.Combine(s, transforms.Values(s, in), transforms.Binary(func(a, b int) int { return a + b })), 10)
	})
	// Binary's accumulator starts empty and takes the first value as is.
	b := transforms.Binary(func(a, b int) int { return a - b })
	acc := b.AddInput(b.CreateAccumulator(), 10)
	require.Equal(t, transforms.Partial[int]{V: 10, Set: true}, acc)
	require.Equal(t, acc, b.MergeAccumulators(b.CreateAccumulator(), acc))
	require.Equal(t, acc, b.MergeAccumulators(acc, b.CreateAccumulator()))
	require.Equal(t, 7, b.ExtractOutput(b.AddInput(acc, 3)))
}

// One key with 1e6 values: GroupByKey hands all of them to one call, CombinePerKey sums them; both in a few
// seconds at most.
func TestOneKeyMillionValues(t *testing.T) {
	if testing.Short() {
		t.Skip("1e6 values")
	}
	const n = 1_000_000
	vals := make([]transforms.KV[int, int64], n)
	for i := range vals {
		vals[i] = pair(7, int64(i))
	}
	for _, m := range []runMode{allModes[0], allModes[2], {"stream/workers=2", local.Config{Workers: 2, Mode: local.Stream, BatchRecords: 100_000, Logger: quiet}}} {
		t.Run(m.name, func(t *testing.T) {
			p := pipeline.New()
			s := p.Root()
			in := pipelinetest.Create(s, vals...)
			stats := transforms.Map(s, transforms.GroupByKey(s, in), func(kv transforms.KV[int, iter.Seq[int64]]) [3]int64 {
				var count, sum int64
				seen := make([]bool, n)
				for v := range kv.Value {
					count++
					sum += v
					seen[v] = true
				}
				for _, ok := range seen {
					if !ok {
						return [3]int64{-1, -1, -1}
					}
				}
				return [3]int64{int64(kv.Key), count, sum}
			})
			pipelinetest.Equals(s, stats, [3]int64{7, n, n * (n - 1) / 2})
			pipelinetest.Equals(s, transforms.SumPerKey(s, in), pair(7, int64(n*(n-1)/2)))
			pipelinetest.Equals(s, transforms.CountPerKey(s, in), pair(7, int64(n)))
			pipelinetest.Run(t, p, m.cfg)
		})
	}
}

// Combine (globally) also adds on the worker that read each value: at most one partial per worker is merged.
func TestCombineLiftsBeforeShuffle(t *testing.T) {
	vals := make([]int, 500)
	for i := range vals {
		vals[i] = i
	}
	for _, m := range batchModes {
		t.Run(m.name, func(t *testing.T) {
			c := newRecordingCombiner()
			p := pipeline.New()
			s := p.Root()
			pipelinetest.Equals(s, transforms.Combine(s, pipelinetest.Create(s, vals...), c), "sum=124750")
			pipelinetest.Run(t, p, m.cfg)
			require.Equal(t, int64(500), c.adds.Load())
			require.LessOrEqual(t, c.merges.Load(), int64(m.cfg.Workers))
			require.Equal(t, int64(1), c.extracts.Load())
		})
	}
}

// Every grouping and element-wise transform over an empty input, in every kind of window, produces nothing (and
// finishes).
func TestEmptyInputs(t *testing.T) {
	for _, fn := range []windowing.WindowFn{windowing.Global{}, windowing.Fixed{Size: time.Second}, windowing.Sliding{Size: 2 * time.Second, Period: time.Second}, windowing.Sessions{Gap: time.Second}} {
		t.Run(fn.String(), func(t *testing.T) {
			forEachMode(t, allModes, func(s pipeline.Scope) {
				kvs := windowing.Into(s, pipelinetest.Create[transforms.KV[string, int]](s), fn)
				pipelinetest.Empty(s.Scope("Into"), kvs)
				pipelinetest.Empty(s.Scope("WithTimestamps"), windowing.WithEventTime(s, kvs, func(transforms.KV[string, int]) pipeline.Time { return 0 }))
				pipelinetest.Empty(s.Scope("GroupByKey"), sortedGroups(s, transforms.GroupByKey(s, kvs)))
				pipelinetest.Empty(s.Scope("CombinePerKey"), transforms.CombinePerKey(s, kvs, newRecordingCombiner()))
				pipelinetest.Empty(s.Scope("Combine"), transforms.Combine(s, transforms.Values(s, kvs), newRecordingCombiner()))
				pipelinetest.Empty(s.Scope("CoGroupByKey"), transforms.CoGroupByKey(s, kvs, kvs))
				pipelinetest.Empty(s.Scope("Join"), transforms.Join(s, transforms.FullOuterJoin, kvs, kvs))
				pipelinetest.Empty(s.Scope("ParDo"), transforms.ParDo(s, kvs, transforms.DoFunc[transforms.KV[string, int], int](
					func(_ context.Context, e pipeline.Element[transforms.KV[string, int]], emit transforms.Emitter[int]) error {
						emit.Emit(1)
						return nil
					})))
				a, b, c := transforms.ParDo3(s, kvs, transforms.DoFunc3[transforms.KV[string, int], int, int, int](
					func(_ context.Context, e pipeline.Element[transforms.KV[string, int]], x, y, z transforms.Emitter[int]) error {
						x.Emit(1)
						y.Emit(2)
						z.Emit(3)
						return nil
					}))
				pipelinetest.Empty(s.Scope("ParDo3"), transforms.Flatten(s, a, b, c))
			})
		})
	}
}
