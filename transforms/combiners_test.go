package transforms_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

// The per-element combiners (Count, Distinct) and the global ones (CountAll, Sum, Min, Max, Mean, Top,
// ApproxCountDistinct), in the global window and in fixed windows.
func TestCombiners(t *testing.T) {
	wordsIn := []pipelinetest.Timed[string]{
		timed("b", 0), timed("a", 1), timed("c", 2), timed("a", 3), timed("b", 4), timed("a", 9),
		timed("z", 10), timed("a", 15),
	}
	numsIn := []pipelinetest.Timed[int]{timed(4, 0), timed(-2, 1), timed(7, 2), timed(4, 3), timed(10, 12), timed(11, 14)}
	w0, w1 := win(0, 10), win(10, 20)
	g := pipeline.GlobalWindow
	byLen := func(a, b string) bool { return len(a) < len(b) || len(a) == len(b) && a > b }
	tests := []struct {
		name  string
		build func(s pipeline.Scope, words pipeline.PCollection[string], nums pipeline.PCollection[int], windowed bool) (got pipeline.PCollection[string], want []pipeline.Element[string])
	}{
		{"Count", func(s pipeline.Scope, words pipeline.PCollection[string], nums pipeline.PCollection[int], windowed bool) (pipeline.PCollection[string], []pipeline.Element[string]) {
			got := transforms.Count(s, words)
			if !windowed {
				return str(s, got), els(g, "a=4", "b=2", "c=1", "z=1")
			}
			return str(s, got), append(els(w0, "a=3", "b=2", "c=1"), els(w1, "a=1", "z=1")...)
		}},
		{"CountPerKey", func(s pipeline.Scope, words pipeline.PCollection[string], nums pipeline.PCollection[int], windowed bool) (pipeline.PCollection[string], []pipeline.Element[string]) {
			keyed := transforms.KeyBy(s, nums, func(v int) bool { return v%2 == 0 })
			got := transforms.CountPerKey(s, keyed)
			if !windowed {
				return str(s, got), els(g, "true=4", "false=2")
			}
			return str(s, got), append(els(w0, "true=3", "false=1"), els(w1, "true=1", "false=1")...)
		}},
		{"CountAll", func(s pipeline.Scope, words pipeline.PCollection[string], nums pipeline.PCollection[int], windowed bool) (pipeline.PCollection[string], []pipeline.Element[string]) {
			got := transforms.CountAll(s, words)
			if !windowed {
				return str(s, got), els(g, "8")
			}
			return str(s, got), append(els(w0, "6"), els(w1, "2")...)
		}},
		{"Sum", func(s pipeline.Scope, words pipeline.PCollection[string], nums pipeline.PCollection[int], windowed bool) (pipeline.PCollection[string], []pipeline.Element[string]) {
			got := transforms.Sum(s, nums)
			if !windowed {
				return str(s, got), els(g, "34")
			}
			return str(s, got), append(els(w0, "13"), els(w1, "21")...)
		}},
		{"SumPerKey float", func(s pipeline.Scope, words pipeline.PCollection[string], nums pipeline.PCollection[int], windowed bool) (pipeline.PCollection[string], []pipeline.Element[string]) {
			kv := transforms.Map(s, nums, func(v int) transforms.KV[bool, float64] { return pair(v > 5, float64(v)/4) })
			got := transforms.SumPerKey(s, kv)
			if !windowed {
				return str(s, got), els(g, "false=1.5", "true=7")
			}
			return str(s, got), append(els(w0, "false=1.5", "true=1.75"), els(w1, "true=5.25")...)
		}},
		{"Min", func(s pipeline.Scope, words pipeline.PCollection[string], nums pipeline.PCollection[int], windowed bool) (pipeline.PCollection[string], []pipeline.Element[string]) {
			got := transforms.Min(s, nums)
			if !windowed {
				return str(s, got), els(g, "-2")
			}
			return str(s, got), append(els(w0, "-2"), els(w1, "10")...)
		}},
		{"MinPerKey", func(s pipeline.Scope, words pipeline.PCollection[string], nums pipeline.PCollection[int], windowed bool) (pipeline.PCollection[string], []pipeline.Element[string]) {
			got := transforms.MinPerKey(s, transforms.KeyBy(s, words, func(v string) bool { return v < "b" }))
			if !windowed {
				return str(s, got), els(g, "true=a", "false=b")
			}
			return str(s, got), append(els(w0, "true=a", "false=b"), els(w1, "true=a", "false=z")...)
		}},
		{"Max", func(s pipeline.Scope, words pipeline.PCollection[string], nums pipeline.PCollection[int], windowed bool) (pipeline.PCollection[string], []pipeline.Element[string]) {
			got := transforms.Max(s, words)
			if !windowed {
				return got, els(g, "z")
			}
			return got, append(els(w0, "c"), els(w1, "z")...)
		}},
		{"MaxPerKey", func(s pipeline.Scope, words pipeline.PCollection[string], nums pipeline.PCollection[int], windowed bool) (pipeline.PCollection[string], []pipeline.Element[string]) {
			got := transforms.MaxPerKey(s, transforms.KeyBy(s, nums, func(v int) int { return v % 2 }))
			if !windowed {
				return str(s, got), els(g, "0=10", "1=11")
			}
			return str(s, got), append(els(w0, "0=4", "1=7"), els(w1, "0=10", "1=11")...)
		}},
		{"Mean", func(s pipeline.Scope, words pipeline.PCollection[string], nums pipeline.PCollection[int], windowed bool) (pipeline.PCollection[string], []pipeline.Element[string]) {
			got := transforms.Mean(s, nums)
			if !windowed {
				return str(s, got), els(g, "5.666666666666667")
			}
			return str(s, got), append(els(w0, "3.25"), els(w1, "10.5")...)
		}},
		{"MeanPerKey", func(s pipeline.Scope, words pipeline.PCollection[string], nums pipeline.PCollection[int], windowed bool) (pipeline.PCollection[string], []pipeline.Element[string]) {
			got := transforms.MeanPerKey(s, transforms.KeyBy(s, nums, func(v int) bool { return v > 0 }))
			if !windowed {
				return str(s, got), els(g, "true=7.2", "false=-2")
			}
			return str(s, got), append(els(w0, "true=5", "false=-2"), els(w1, "true=10.5")...)
		}},
		{"Top", func(s pipeline.Scope, words pipeline.PCollection[string], nums pipeline.PCollection[int], windowed bool) (pipeline.PCollection[string], []pipeline.Element[string]) {
			got := transforms.Top(s, nums, 3, func(a, b int) bool { return a < b })
			if !windowed {
				return str(s, got), els(g, "[11 10 7]")
			}
			return str(s, got), append(els(w0, "[7 4 4]"), els(w1, "[11 10]")...)
		}},
		{"Top by custom order", func(s pipeline.Scope, words pipeline.PCollection[string], nums pipeline.PCollection[int], windowed bool) (pipeline.PCollection[string], []pipeline.Element[string]) {
			got := transforms.Top(s, words, 2, byLen)
			if !windowed {
				return str(s, got), els(g, "[a a]")
			}
			return str(s, got), append(els(w0, "[a a]"), els(w1, "[a z]")...)
		}},
		{"TopPerKey", func(s pipeline.Scope, words pipeline.PCollection[string], nums pipeline.PCollection[int], windowed bool) (pipeline.PCollection[string], []pipeline.Element[string]) {
			keyed := transforms.KeyBy(s, nums, func(v int) bool { return v%2 == 0 })
			got := transforms.TopPerKey(s, keyed, 2, func(a, b int) bool { return a > b }) // the 2 smallest
			if !windowed {
				return str(s, got), els(g, "true=[-2 4]", "false=[7 11]")
			}
			return str(s, got), append(els(w0, "true=[-2 4]", "false=[7]"), els(w1, "true=[10]", "false=[11]")...)
		}},
		{"Distinct", func(s pipeline.Scope, words pipeline.PCollection[string], nums pipeline.PCollection[int], windowed bool) (pipeline.PCollection[string], []pipeline.Element[string]) {
			got := transforms.Distinct(s, words)
			if !windowed {
				return got, els(g, "a", "b", "c", "z")
			}
			return got, append(els(w0, "a", "b", "c"), els(w1, "a", "z")...)
		}},
		{"ApproxCountDistinct", func(s pipeline.Scope, words pipeline.PCollection[string], nums pipeline.PCollection[int], windowed bool) (pipeline.PCollection[string], []pipeline.Element[string]) {
			got := transforms.ApproxCountDistinct(s, words)
			if !windowed {
				return str(s, got), els(g, "4")
			}
			return str(s, got), append(els(w0, "3"), els(w1, "2")...)
		}},
		{"ApproxCountDistinctPerKey", func(s pipeline.Scope, words pipeline.PCollection[string], nums pipeline.PCollection[int], windowed bool) (pipeline.PCollection[string], []pipeline.Element[string]) {
			keyed := transforms.KeyBy(s, nums, func(v int) bool { return v%2 == 0 })
			got := transforms.ApproxCountDistinctPerKey(s, keyed)
			if !windowed {
				return str(s, got), els(g, "true=3", "false=2")
			}
			return str(s, got), append(els(w0, "true=2", "false=1"), els(w1, "true=1", "false=1")...)
		}},
	}
	for _, tt := range tests {
		for _, windowed := range []bool{false, true} {
			name := tt.name + "/global"
			if windowed {
				name = tt.name + "/fixed"
			}
			t.Run(name, func(t *testing.T) {
				forEachMode(t, allModes, func(s pipeline.Scope) {
					words, nums := pipelinetest.CreateTimed(s, wordsIn...), pipelinetest.CreateTimed(s, numsIn...)
					if windowed {
						words = windowing.Into(s, words, windowing.Fixed{Size: 10 * time.Millisecond})
						nums = windowing.Into(s, nums, windowing.Fixed{Size: 10 * time.Millisecond})
					}
					got, want := tt.build(s, words, nums, windowed)
					pipelinetest.EqualsElements(s, got, want...)
				})
			})
		}
		// Empty input: no output at all (not even a zero count, as in Flink and Spark).
		t.Run(tt.name+"/empty", func(t *testing.T) {
			forEachMode(t, allModes, func(s pipeline.Scope) {
				got, _ := tt.build(s, pipelinetest.Create[string](s), pipelinetest.Create[int](s), false)
				pipelinetest.Empty(s, got)
			})
		})
	}
}

// str formats the elements of col with fmt.Sprint.
func str[T any](s pipeline.Scope, col pipeline.PCollection[T]) pipeline.PCollection[string] {
	return transforms.Map(s, col, func(v T) string { return fmt.Sprint(v) })
}

// els is the on-time results vs of window w.
func els(w pipeline.Window, vs ...string) []pipeline.Element[string] {
	out := make([]pipeline.Element[string], len(vs))
	for i, v := range vs {
		out[i] = fired(v, w)
	}
	return out
}

// ApproxCountDistinctFn is exact for small sets (up to 1024 distinct values it keeps the hashes themselves) and
// within HyperLogLog's error beyond.
func TestApproxCountDistinctFn(t *testing.T) {
	fn := transforms.ApproxCountDistinctFn[int]{}
	count := func(vals ...int) int64 {
		acc := fn.CreateAccumulator()
		for _, v := range vals {
			acc = fn.AddInput(acc, v)
		}
		return fn.ExtractOutput(acc)
	}
	seq := func(lo, hi int) []int {
		var out []int
		for i := lo; i < hi; i++ {
			out = append(out, i)
		}
		return out
	}
	require.Equal(t, int64(0), count())
	require.Equal(t, int64(1), count(5, 5, 5))
	for _, n := range []int{2, 10, 100, 500, 1000, 1024} {
		vals := append(seq(0, n), seq(0, n)...) // every value twice
		require.Equal(t, int64(n), count(vals...), "n=%d", n)
	}
	// Merging: exact while small, register-wise beyond, in any combination; the second argument is not kept.
	merge := func(a, b []int) int64 {
		x, y := fn.CreateAccumulator(), fn.CreateAccumulator()
		for _, v := range a {
			x = fn.AddInput(x, v)
		}
		for _, v := range b {
			y = fn.AddInput(y, v)
		}
		before := fn.ExtractOutput(y)
		m := fn.MergeAccumulators(x, y)
		m = fn.AddInput(m, -1)
		require.Equal(t, before, fn.ExtractOutput(y), "merge modified its second argument")
		return fn.ExtractOutput(m) - 1
	}
	require.Equal(t, int64(150), merge(seq(0, 100), seq(50, 150)))
	require.Equal(t, int64(700), merge(nil, seq(0, 700)))
	require.Equal(t, int64(700), merge(seq(0, 700), nil))
	for _, c := range []struct {
		a, b []int
		want float64
	}{
		{seq(0, 700), seq(300, 1300), 1300},   // sparse + sparse → dense
		{seq(0, 5000), seq(4000, 5100), 5100}, // dense + sparse
		{seq(0, 100), seq(0, 5100), 5100},     // sparse + dense
		{seq(0, 3000), seq(2100, 5100), 5100}, // dense + dense
	} {
		got := merge(c.a, c.b)
		require.InDelta(t, c.want, float64(got), c.want*0.04, "got %d", got)
	}
}

// On 1e5 distinct values (each seen twice, over 4 workers) the estimate is within 4% (5 standard errors).
func TestApproxCountDistinctLarge(t *testing.T) {
	const n = 100_000
	vals := make([]int, 0, 2*n)
	for i := range n {
		vals = append(vals, i*7919, i*7919)
	}
	splitmix := func(v int) uint64 {
		z := uint64(v) + 0x9E3779B97F4A7C15
		z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
		z = (z ^ (z >> 27)) * 0x94D049BB133111EB
		return z ^ (z >> 31)
	}
	p := pipeline.New()
	s := p.Root()
	in := pipelinetest.Create(s, vals...)
	res := pipelinetest.Collect(s, transforms.ApproxCountDistinct(s, in))
	keyed := transforms.KeyBy(s, in, func(int) string { return "k" })
	res2 := pipelinetest.Collect(s, transforms.CombinePerKey(s, keyed, transforms.ApproxCountDistinctFn[int]{Hash: splitmix}))
	pipelinetest.Run(t, p, allModes[2].cfg)
	got := res.Values()
	require.Len(t, got, 1)
	require.InDelta(t, float64(n), float64(got[0]), n*0.04, "estimate %d", got[0])
	got2 := res2.Values()
	require.Len(t, got2, 1)
	require.InDelta(t, float64(n), float64(got2[0].Value), n*0.04, "estimate %d", got2[0].Value)
}
