package transforms_test

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

// runExample runs p on the local runner.
func runExample(p *pipeline.Pipeline) {
	if err := local.New(local.Config{}).Run(context.Background(), p); err != nil {
		fmt.Println(err)
	}
}

// printSorted prints the values of res, sorted.
func printSorted[T any](res *pipelinetest.Result[T]) {
	var lines []string
	for _, v := range res.Values() {
		lines = append(lines, fmt.Sprint(v))
	}
	slices.Sort(lines)
	fmt.Println(strings.Join(lines, "\n"))
}

func ExampleMap() {
	p := pipeline.New()
	s := p.Root()
	names := pipelinetest.Create(s, "ada", "grace", "edsger")
	lengths := transforms.Map(s, names, func(n string) int { return len(n) })
	res := pipelinetest.Collect(s, lengths)
	runExample(p)
	printSorted(res)
	// Output:
	// 3
	// 5
	// 6
}

func ExampleCount() {
	p := pipeline.New()
	s := p.Root()
	lines := pipelinetest.Create(s, "to be or", "not to be")
	words := transforms.FlatMap(s, lines, strings.Fields)
	res := pipelinetest.Collect(s, transforms.Count(s, words))
	runExample(p)
	printSorted(res)
	// Output:
	// be=2
	// not=1
	// or=1
	// to=2
}

type purchase struct {
	User   string
	Amount float64
}

func ExampleCombinePerKey() {
	p := pipeline.New()
	s := p.Root()
	purchases := pipelinetest.Create(s, purchase{"ann", 10}, purchase{"bob", 5}, purchase{"ann", 2.5})
	byUser := transforms.Map(s, purchases, func(p purchase) transforms.KV[string, float64] {
		return transforms.Pair(p.User, p.Amount)
	})
	// Any Combiner works; SumFn adds. Each worker sums its share before the shuffle.
	totals := transforms.CombinePerKey(s, byUser, transforms.SumFn[float64]{})
	// Combine works on all elements (per window) at once.
	all := transforms.Combine(s, transforms.Values(s, byUser), transforms.MeanFn[float64]{})
	res, mean := pipelinetest.Collect(s, totals), pipelinetest.Collect(s, all)
	runExample(p)
	printSorted(res)
	fmt.Println("mean:", mean.Values())
	// Output:
	// ann=12.5
	// bob=5
	// mean: [5.833333333333333]
}

func ExampleCombineFuncs() {
	p := pipeline.New()
	s := p.Root()
	temps := pipelinetest.Create(s, transforms.Pair("oslo", -3), transforms.Pair("rome", 14), transforms.Pair("oslo", 2))
	type span struct{ lo, hi int }
	ranges := transforms.CombinePerKey(s, temps, transforms.CombineFuncs[int, *span, string]{
		Add: func(a *span, v int) *span {
			if a == nil {
				return &span{v, v}
			}
			return &span{min(a.lo, v), max(a.hi, v)}
		},
		Merge: func(a, b *span) *span {
			if a == nil || b == nil {
				return cmpOr(a, b)
			}
			return &span{min(a.lo, b.lo), max(a.hi, b.hi)}
		},
		Extract: func(a *span) string { return fmt.Sprintf("%d..%d", a.lo, a.hi) },
	})
	res := pipelinetest.Collect(s, ranges)
	runExample(p)
	printSorted(res)
	// Output:
	// oslo=-3..2
	// rome=14..14
}

func cmpOr[T any](a, b *T) *T {
	if a != nil {
		return a
	}
	return b
}

func ExampleGroupByKey() {
	p := pipeline.New()
	s := p.Root()
	visits := pipelinetest.CreateTimed(s,
		pipelinetest.AtMillis(transforms.Pair("ann", "/home"), 0),
		pipelinetest.AtMillis(transforms.Pair("ann", "/docs"), 20_000),
		pipelinetest.AtMillis(transforms.Pair("bob", "/home"), 30_000),
		pipelinetest.AtMillis(transforms.Pair("ann", "/blog"), 70_000))
	perMinute := windowing.Into(s, visits, windowing.Fixed{Size: time.Minute})
	grouped := transforms.GroupByKey(s, perMinute)
	// Each group holds the values of one key in one window, as an iter.Seq; its element carries the window.
	desc := transforms.ParDo(s, grouped, transforms.DoFunc[transforms.KV[string, iter.Seq[string]], string](
		func(_ context.Context, e pipeline.Element[transforms.KV[string, iter.Seq[string]]], emit transforms.Emitter[string]) error {
			pages := slices.Sorted(e.Value.Value)
			emit.Emit(fmt.Sprintf("%s minute %d: %v", e.Value.Key, e.Window.Start/60000, pages))
			return nil
		}))
	res := pipelinetest.Collect(s, desc)
	runExample(p)
	printSorted(res)
	// Output:
	// ann minute 0: [/docs /home]
	// ann minute 1: [/blog]
	// bob minute 0: [/home]
}

func ExampleParDo2() {
	p := pipeline.New()
	s := p.Root()
	raw := pipelinetest.Create(s, "12", "x", "7")
	nums, bad := transforms.ParDo2(s, raw, transforms.DoFunc2[string, int, string](
		func(_ context.Context, e pipeline.Element[string], ok transforms.Emitter[int], rejected transforms.Emitter[string]) error {
			var n int
			if _, err := fmt.Sscan(e.Value, &n); err != nil {
				rejected.Emit(e.Value)
				return nil
			}
			ok.Emit(n)
			return nil
		}))
	sum := transforms.Sum(s, nums)
	res, rej := pipelinetest.Collect(s, sum), pipelinetest.Collect(s, bad)
	runExample(p)
	printSorted(res)
	fmt.Println("rejected:", rej.Values())
	// Output:
	// 19
	// rejected: [x]
}

func ExampleJoin() {
	p := pipeline.New()
	s := p.Root()
	users := pipelinetest.Create(s, transforms.Pair(1, "ann"), transforms.Pair(2, "bob"))
	orders := pipelinetest.Create(s, transforms.Pair(1, 9.5), transforms.Pair(1, 3.0), transforms.Pair(3, 1.0))
	joined := transforms.Join(s, transforms.FullOuterJoin, users, orders)
	desc := transforms.Map(s, joined, func(j transforms.Joined[int, string, float64]) string {
		return fmt.Sprintf("%d %q(%v) %v(%v)", j.Key, j.Left, j.HasLeft, j.Right, j.HasRight)
	})
	res := pipelinetest.Collect(s, desc)
	runExample(p)
	printSorted(res)
	// Output:
	// 1 "ann"(true) 3(true)
	// 1 "ann"(true) 9.5(true)
	// 2 "bob"(true) 0(false)
	// 3 ""(false) 1(true)
}

// MapWindowed turns per-window results into rows that carry their window.
func ExampleMapWindowed() {
	p := pipeline.New()
	s := p.Root()
	clicks := pipelinetest.CreateTimed(s,
		pipelinetest.At("home", time.UnixMilli(10_000)), pipelinetest.At("home", time.UnixMilli(20_000)), pipelinetest.At("cart", time.UnixMilli(70_000)))
	perMinute := windowing.Into(s, clicks, windowing.Fixed{Size: time.Minute})
	counts := transforms.Count(s, perMinute)
	rows := transforms.MapWindowed(s, counts, func(c transforms.KV[string, int64], w pipeline.Window) string {
		return fmt.Sprintf("%s %s-%s %d", c.Key, w.Start.Std().UTC().Format("15:04"), w.End.Std().UTC().Format("15:04"), c.Value)
	})
	out := pipelinetest.Collect(s, rows)
	runExample(p)
	got := out.Values()
	slices.Sort(got)
	for _, r := range got {
		fmt.Println(r)
	}
	// Output:
	// cart 00:01-00:02 1
	// home 00:00-00:01 2
}
