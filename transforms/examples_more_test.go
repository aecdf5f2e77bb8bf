package transforms_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

// scores are (player, points) pairs.
func scores(s pipeline.Scope) pipeline.PCollection[transforms.KV[string, int]] {
	return pipelinetest.Create(s, transforms.Pair("ann", 7), transforms.Pair("bob", 3), transforms.Pair("ann", 5), transforms.Pair("bob", 9), transforms.Pair("cy", 4))
}

// points are the scores' values alone.
func points(s pipeline.Scope) pipeline.PCollection[int] { return transforms.Values(s, scores(s)) }

func ExampleCountPerKey() {
	p := pipeline.New()
	s := p.Root()
	res := pipelinetest.Collect(s, transforms.CountPerKey(s, scores(s)))
	runExample(p)
	printSorted(res)
	// Output:
	// ann=2
	// bob=2
	// cy=1
}

func ExampleCountAll() {
	p := pipeline.New()
	s := p.Root()
	res := pipelinetest.Collect(s, transforms.CountAll(s, scores(s)))
	runExample(p)
	printSorted(res)
	// Output:
	// 5
}

func ExampleSumPerKey() {
	p := pipeline.New()
	s := p.Root()
	res := pipelinetest.Collect(s, transforms.SumPerKey(s, scores(s)))
	runExample(p)
	printSorted(res)
	// Output:
	// ann=12
	// bob=12
	// cy=4
}

func ExampleSum() {
	p := pipeline.New()
	s := p.Root()
	res := pipelinetest.Collect(s, transforms.Sum(s, points(s)))
	runExample(p)
	printSorted(res)
	// Output:
	// 28
}

func ExampleMinPerKey() {
	p := pipeline.New()
	s := p.Root()
	res := pipelinetest.Collect(s, transforms.MinPerKey(s, scores(s)))
	runExample(p)
	printSorted(res)
	// Output:
	// ann=5
	// bob=3
	// cy=4
}

func ExampleMin() {
	p := pipeline.New()
	s := p.Root()
	res := pipelinetest.Collect(s, transforms.Min(s, points(s)))
	runExample(p)
	printSorted(res)
	// Output:
	// 3
}

func ExampleMaxPerKey() {
	p := pipeline.New()
	s := p.Root()
	res := pipelinetest.Collect(s, transforms.MaxPerKey(s, scores(s)))
	runExample(p)
	printSorted(res)
	// Output:
	// ann=7
	// bob=9
	// cy=4
}

func ExampleMax() {
	p := pipeline.New()
	s := p.Root()
	res := pipelinetest.Collect(s, transforms.Max(s, points(s)))
	runExample(p)
	printSorted(res)
	// Output:
	// 9
}

func ExampleMeanPerKey() {
	p := pipeline.New()
	s := p.Root()
	res := pipelinetest.Collect(s, transforms.MeanPerKey(s, scores(s)))
	runExample(p)
	printSorted(res)
	// Output:
	// ann=6
	// bob=6
	// cy=4
}

func ExampleMean() {
	p := pipeline.New()
	s := p.Root()
	res := pipelinetest.Collect(s, transforms.Mean(s, points(s)))
	runExample(p)
	printSorted(res)
	// Output:
	// 5.6
}

func ExampleTopPerKey() {
	p := pipeline.New()
	s := p.Root()
	// The best score of each player.
	best := transforms.TopPerKey(s, scores(s), 1, func(a, b int) bool { return a < b })
	res := pipelinetest.Collect(s, best)
	runExample(p)
	printSorted(res)
	// Output:
	// ann=[7]
	// bob=[9]
	// cy=[4]
}

func ExampleTop() {
	p := pipeline.New()
	s := p.Root()
	// The two best scores overall, best first.
	res := pipelinetest.Collect(s, transforms.Top(s, points(s), 2, func(a, b int) bool { return a < b }))
	runExample(p)
	printSorted(res)
	// Output:
	// [9 7]
}

func ExampleDistinct() {
	p := pipeline.New()
	s := p.Root()
	players := transforms.Keys(s, scores(s))
	res := pipelinetest.Collect(s, transforms.Distinct(s, players))
	runExample(p)
	printSorted(res)
	// Output:
	// ann
	// bob
	// cy
}

func ExampleApproxCountDistinctPerKey() {
	p := pipeline.New()
	s := p.Root()
	// Distinct visitors per page: exact up to 1024 distinct values, a HyperLogLog++ estimate (~0.8% error) beyond.
	visits := pipelinetest.Create(s, transforms.Pair("/", "ann"), transforms.Pair("/", "bob"), transforms.Pair("/", "ann"), transforms.Pair("/docs", "cy"))
	res := pipelinetest.Collect(s, transforms.ApproxCountDistinctPerKey(s, visits))
	runExample(p)
	printSorted(res)
	// Output:
	// /=2
	// /docs=1
}

func ExampleApproxCountDistinct() {
	p := pipeline.New()
	s := p.Root()
	ids := make([]int, 100_000)
	for i := range ids {
		ids[i] = i % 20_000 // 20000 distinct values, each five times
	}
	res := pipelinetest.Collect(s, transforms.ApproxCountDistinct(s, pipelinetest.Create(s, ids...)))
	runExample(p)
	est := res.Values()[0]
	// The default hash is seeded per process, so the estimate varies between runs (standard error ~0.8%).
	fmt.Println(est > 19_000 && est < 21_000, "(within 5% of 20000)")
	// Output:
	// true (within 5% of 20000)
}

func ExampleFlatMap() {
	p := pipeline.New()
	s := p.Root()
	words := transforms.FlatMap(s, pipelinetest.Create(s, "a b", "c"), strings.Fields)
	res := pipelinetest.Collect(s, words)
	runExample(p)
	printSorted(res)
	// Output:
	// a
	// b
	// c
}

func ExampleFilter() {
	p := pipeline.New()
	s := p.Root()
	high := transforms.Filter(s, points(s), func(n int) bool { return n >= 5 })
	res := pipelinetest.Collect(s, high)
	runExample(p)
	printSorted(res)
	// Output:
	// 5
	// 7
	// 9
}

func ExampleMapErr() {
	p := pipeline.New()
	s := p.Root()
	// An error stops the run, naming the transform and the element.
	nums := transforms.MapErr(s, pipelinetest.Create(s, "1", "two"), strconv.Atoi)
	pipelinetest.Collect(s, nums)
	err := local.New(local.Config{}).Run(context.Background(), p)
	fmt.Println(errors.Is(err, strconv.ErrSyntax))
	fmt.Println(strings.Contains(err.Error(), "MapErr"))
	// Output:
	// true
	// true
}

func ExampleTryMap() {
	p := pipeline.New()
	s := p.Root()
	// Failures go to a dead-letter collection, and the run goes on.
	nums, failed := transforms.TryMap(s, pipelinetest.Create(s, "1", "two", "3"), strconv.Atoi)
	sum, dead := pipelinetest.Collect(s, transforms.Sum(s, nums)), pipelinetest.Collect(s, failed)
	runExample(p)
	fmt.Println("sum:", sum.Values())
	for _, d := range dead.Values() {
		fmt.Printf("dead letter: %v (%s)\n", d.Value, d.Transform)
	}
	// Output:
	// sum: [4]
	// dead letter: two (TryMap)
}

func ExampleName() {
	p := pipeline.New()
	s := p.Root()
	// Name names a transform in graph dumps, metrics, logs and errors (and checkpointed state).
	transforms.SumPerKey(s, scores(s), transforms.Name("PointsPerPlayer"))
	for _, t := range p.Transforms() {
		if strings.HasPrefix(t.Name(), "Points") {
			fmt.Println(t.Name())
		}
	}
	// Output:
	// PointsPerPlayer
}

func ExampleParDo() {
	p := pipeline.New()
	s := p.Root()
	// A DoFn sees the whole element (value, time, window, pane) and emits any number of outputs.
	lines := pipelinetest.CreateTimed(s, pipelinetest.AtMillis("a b", 1000), pipelinetest.AtMillis("c", 2000))
	stamped := transforms.ParDo(s, lines, transforms.DoFunc[string, string](
		func(_ context.Context, e pipeline.Element[string], emit transforms.Emitter[string]) error {
			for _, w := range strings.Fields(e.Value) {
				emit.Emit(fmt.Sprintf("%s@%d", w, e.Time))
			}
			return nil
		}))
	res := pipelinetest.Collect(s, stamped)
	runExample(p)
	printSorted(res)
	// Output:
	// a@1000
	// b@1000
	// c@2000
}

func ExampleParDo3() {
	p := pipeline.New()
	s := p.Root()
	// Route each score to one of three outputs.
	low, mid, high := transforms.ParDo3(s, points(s), transforms.DoFunc3[int, int, int, int](
		func(_ context.Context, e pipeline.Element[int], low, mid, high transforms.Emitter[int]) error {
			switch {
			case e.Value < 4:
				low.Emit(e.Value)
			case e.Value < 7:
				mid.Emit(e.Value)
			default:
				high.Emit(e.Value)
			}
			return nil
		}))
	l, m, h := pipelinetest.Collect(s, low), pipelinetest.Collect(s, mid), pipelinetest.Collect(s, high)
	runExample(p)
	sorted := func(v []int) []int { slices.Sort(v); return v }
	fmt.Println(sorted(l.Values()), sorted(m.Values()), sorted(h.Values()))
	// Output:
	// [3] [4 5] [7 9]
}

func ExampleFlatten() {
	p := pipeline.New()
	s := p.Root()
	web := pipelinetest.Create(s, "signup", "login")
	app := pipelinetest.Create(s, "login")
	all := transforms.Flatten(s, web, app)
	res := pipelinetest.Collect(s, transforms.Count(s, all))
	runExample(p)
	printSorted(res)
	// Output:
	// login=2
	// signup=1
}

func ExamplePartition() {
	p := pipeline.New()
	s := p.Root()
	parts := transforms.Partition(s, points(s), 2, func(n int) int { return n % 2 }) // even, odd
	even, odd := pipelinetest.Collect(s, parts[0]), pipelinetest.Collect(s, parts[1])
	runExample(p)
	printSorted(even)
	fmt.Println("--")
	printSorted(odd)
	// Output:
	// 4
	// --
	// 3
	// 5
	// 7
	// 9
}

func ExampleBinary() {
	p := pipeline.New()
	s := p.Root()
	// Binary makes a combiner from an associative, commutative function: here the longest name per initial.
	names := pipelinetest.Create(s, transforms.Pair("a", "ann"), transforms.Pair("a", "alexandra"), transforms.Pair("b", "bob"))
	longest := transforms.CombinePerKey(s, names, transforms.Binary(func(x, y string) string {
		if len(y) > len(x) || (len(y) == len(x) && y < x) {
			return y
		}
		return x
	}))
	res := pipelinetest.Collect(s, longest)
	runExample(p)
	printSorted(res)
	// Output:
	// a=alexandra
	// b=bob
}

func ExampleCombine() {
	p := pipeline.New()
	s := p.Root()
	// Combine applies a combiner to all elements of each window: here the count and mean of all points.
	mean := transforms.Combine(s, points(s), transforms.MeanFn[int]{})
	count := transforms.Combine(s, points(s), transforms.CountFn[int]{})
	m, c := pipelinetest.Collect(s, mean), pipelinetest.Collect(s, count)
	runExample(p)
	fmt.Println(c.Values(), m.Values())
	// Output:
	// [5] [5.6]
}

func ExampleCoGroupByKey() {
	p := pipeline.New()
	s := p.Root()
	emails := pipelinetest.Create(s, transforms.Pair("ann", "ann@example.com"), transforms.Pair("bob", "bob@example.com"))
	phones := pipelinetest.Create(s, transforms.Pair("ann", "555-0100"), transforms.Pair("ann", "555-0199"), transforms.Pair("cy", "555-0142"))
	both := transforms.CoGroupByKey(s, emails, phones)
	desc := transforms.Map(s, both, func(kv transforms.KV[string, transforms.CoGrouped[string, string]]) string {
		phones := slices.Sorted(slices.Values(kv.Value.Right))
		return fmt.Sprintf("%s: emails %v phones %v", kv.Key, kv.Value.Left, phones)
	})
	res := pipelinetest.Collect(s, desc)
	runExample(p)
	printSorted(res)
	// Output:
	// ann: emails [ann@example.com] phones [555-0100 555-0199]
	// bob: emails [bob@example.com] phones []
	// cy: emails [] phones [555-0142]
}

func ExampleSeq() {
	p := pipeline.New()
	s := p.Root()
	grouped := transforms.GroupByKey(s, scores(s))
	// Seq materialises a group's values (an iter.Seq) as a slice.
	desc := transforms.Map(s, grouped, func(kv transforms.KV[string, iter.Seq[int]]) string {
		v := transforms.Seq(kv.Value)
		slices.Sort(v)
		return fmt.Sprint(kv.Key, v)
	})
	res := pipelinetest.Collect(s, desc)
	runExample(p)
	printSorted(res)
	// Output:
	// ann[5 7]
	// bob[3 9]
	// cy[4]
}

func ExamplePair() {
	kv := transforms.Pair("ann", 7)
	fmt.Println(kv, kv.Key, kv.Value)
	// Output:
	// ann=7 ann 7
}

func ExampleKeyBy() {
	p := pipeline.New()
	s := p.Root()
	byInitial := transforms.KeyBy(s, pipelinetest.Create(s, "ann", "bob", "alice"), func(n string) string { return n[:1] })
	res := pipelinetest.Collect(s, byInitial)
	runExample(p)
	printSorted(res)
	// Output:
	// a=alice
	// a=ann
	// b=bob
}

func ExampleKeys() {
	p := pipeline.New()
	s := p.Root()
	res := pipelinetest.Collect(s, transforms.Keys(s, scores(s)))
	runExample(p)
	printSorted(res)
	// Output:
	// ann
	// ann
	// bob
	// bob
	// cy
}

func ExampleValues() {
	p := pipeline.New()
	s := p.Root()
	res := pipelinetest.Collect(s, transforms.Values(s, scores(s)))
	runExample(p)
	printSorted(res)
	// Output:
	// 3
	// 4
	// 5
	// 7
	// 9
}

func ExampleLateDataTo() {
	p := pipeline.New()
	s := p.Root()
	// In stream mode, one record per split per micro-batch: the watermark passes minute 0 before the record of
	// 00:00:30 arrives. Instead of being dropped, it goes to the late-data collection.
	visits := pipeline.Read(s, pipelinetest.Source([]pipelinetest.Timed[transforms.KV[string, int]]{
		pipelinetest.AtMillis(transforms.Pair("/", 1), 10_000),
		pipelinetest.AtMillis(transforms.Pair("/", 1), 70_000),
		pipelinetest.AtMillis(transforms.Pair("/", 1), 30_000), // late
		pipelinetest.AtMillis(transforms.Pair("/", 1), 80_000),
	}, 1))
	var late pipeline.PCollection[transforms.KV[string, int]]
	perMinute := windowing.Into(s, visits, windowing.Fixed{Size: time.Minute})
	sums := transforms.SumPerKey(s, perMinute, transforms.LateDataTo(&late))
	rows := transforms.MapWindowed(s, sums, func(kv transforms.KV[string, int], w pipeline.Window) string {
		return fmt.Sprintf("minute %d: %d", w.Start/60_000, kv.Value)
	})
	res, lates := pipelinetest.Collect(s, rows), pipelinetest.Collect(s, late)
	if err := local.New(local.Config{Mode: local.Stream, BatchRecords: 1}).Run(context.Background(), p); err != nil {
		fmt.Println(err)
		return
	}
	printSorted(res)
	for _, e := range lates.Elements() {
		fmt.Println("late:", e.Value, "at", e.Time)
	}
	// Output:
	// minute 0: 1
	// minute 1: 2
	// late: /=1 at 1970-01-01T00:00:30.000Z
}

func ExampleStatefulParDo() {
	p := pipeline.New()
	s := p.Root()
	// A running total per player, emitted with every score: state is kept per key (and window).
	total := transforms.ValueState[int]{Name: "total"}
	running := transforms.StatefulParDo(s, scores(s), transforms.StatefulFuncs[string, int, string]{
		Process: func(_ context.Context, sc *transforms.StateContext[string], e pipeline.Element[int], emit transforms.Emitter[string]) error {
			t, _ := total.Read(sc)
			t += e.Value
			total.Write(sc, t)
			emit.Emit(fmt.Sprintf("%s %d", sc.Key(), t))
			return nil
		},
	})
	res := pipelinetest.Collect(s, running)
	runExample(p)
	// The order of one key's elements follows their arrival; the last total of each player is its sum.
	last := map[string]string{}
	for _, v := range res.Values() {
		k, t, _ := strings.Cut(v, " ")
		if n, _ := strconv.Atoi(t); n > atoi(last[k]) {
			last[k] = t
		}
	}
	fmt.Println(last)
	// Output:
	// map[ann:12 bob:12 cy:4]
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
