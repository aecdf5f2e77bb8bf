package transforms_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

// joinInputs are the two sides of the join tests, in fixed 10 ms windows: key "a" matches in [0,10) (twice on the
// left), "b" only on the left, "c" only on the right, and "a" again only on the right in [10,20).
func joinInputs(s pipeline.Scope) (pipeline.PCollection[transforms.KV[string, int]], pipeline.PCollection[transforms.KV[string, string]]) {
	left := pipelinetest.CreateTimed(s, timed(pair("a", 1), 1), timed(pair("a", 2), 2), timed(pair("b", 3), 3))
	right := pipelinetest.CreateTimed(s, timed(pair("a", "x"), 4), timed(pair("c", "y"), 5), timed(pair("a", "z"), 12))
	fixed := windowing.Fixed{Size: 10 * ms}
	return windowing.Into(s, left, fixed), windowing.Into(s, right, fixed)
}

func TestCoGroupByKey(t *testing.T) {
	type cg = transforms.KV[string, string]
	forEachMode(t, allModes, func(s pipeline.Scope) {
		left, right := joinInputs(s)
		co := transforms.CoGroupByKey(s, left, right)
		desc := transforms.Map(s, co, func(kv transforms.KV[string, transforms.CoGrouped[int, string]]) cg {
			l, r := slices.Sorted(slices.Values(kv.Value.Left)), slices.Sorted(slices.Values(kv.Value.Right))
			return pair(kv.Key, fmt.Sprint(l, r))
		})
		pipelinetest.EqualsElements(s, desc,
			fired(pair("a", "[1 2] [x]"), win(0, 10)),
			fired(pair("b", "[3] []"), win(0, 10)),
			fired(pair("c", "[] [y]"), win(0, 10)),
			fired(pair("a", "[] [z]"), win(10, 20)),
		)
	})
	forEachMode(t, allModes, func(s pipeline.Scope) {
		empty := transforms.CoGroupByKey(s, pipelinetest.Create[transforms.KV[int, int]](s), pipelinetest.Create[transforms.KV[int, bool]](s))
		pipelinetest.Empty(s, empty)
		oneSide := transforms.CoGroupByKey(s, pipelinetest.Create(s, pair(1, 10)), pipelinetest.Create[transforms.KV[int, bool]](s))
		pipelinetest.Equals(s, transforms.Map(s, oneSide, func(kv transforms.KV[int, transforms.CoGrouped[int, bool]]) string {
			return fmt.Sprint(kv.Key, kv.Value.Left, kv.Value.Right, kv.Value.Right == nil)
		}), "1 [10] [] true")
	})
}

func TestJoin(t *testing.T) {
	type row = transforms.Joined[string, int, string]
	inner := func(k string, l int, r string) row {
		return row{Key: k, Left: l, Right: r, HasLeft: true, HasRight: true}
	}
	leftOnly := func(k string, l int) row { return row{Key: k, Left: l, HasLeft: true} }
	rightOnly := func(k string, r string) row { return row{Key: k, Right: r, HasRight: true} }
	w0, w1 := win(0, 10), win(10, 20)
	tests := []struct {
		name string
		kind transforms.JoinKind
		want []pipeline.Element[row]
	}{
		{"inner", transforms.InnerJoin, []pipeline.Element[row]{
			fired(inner("a", 1, "x"), w0), fired(inner("a", 2, "x"), w0)}},
		{"left outer", transforms.LeftOuterJoin, []pipeline.Element[row]{
			fired(inner("a", 1, "x"), w0), fired(inner("a", 2, "x"), w0), fired(leftOnly("b", 3), w0)}},
		{"right outer", transforms.RightOuterJoin, []pipeline.Element[row]{
			fired(inner("a", 1, "x"), w0), fired(inner("a", 2, "x"), w0), fired(rightOnly("c", "y"), w0), fired(rightOnly("a", "z"), w1)}},
		{"full outer", transforms.FullOuterJoin, []pipeline.Element[row]{
			fired(inner("a", 1, "x"), w0), fired(inner("a", 2, "x"), w0), fired(leftOnly("b", 3), w0),
			fired(rightOnly("c", "y"), w0), fired(rightOnly("a", "z"), w1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachMode(t, allModes, func(s pipeline.Scope) {
				left, right := joinInputs(s)
				pipelinetest.EqualsElements(s, transforms.Join(s, tt.kind, left, right), tt.want...)
			})
			forEachMode(t, allModes[:1], func(s pipeline.Scope) {
				pipelinetest.Empty(s, transforms.Join(s, tt.kind,
					pipelinetest.Create[transforms.KV[string, int]](s), pipelinetest.Create[transforms.KV[string, string]](s)))
			})
		})
	}
}

// Joins in the global window match across all of the input, and sessions join per merged session.
func TestJoinWindowing(t *testing.T) {
	type row = transforms.Joined[string, int, int]
	forEachMode(t, allModes, func(s pipeline.Scope) {
		l := pipelinetest.CreateTimed(s, timed(pair("u", 1), 0), timed(pair("u", 2), 100))
		r := pipelinetest.CreateTimed(s, timed(pair("u", 10), 3), timed(pair("u", 20), 104), timed(pair("v", 30), 200))
		pipelinetest.Equals(s.Scope("global"), transforms.Join(s, transforms.InnerJoin, l, r),
			row{"u", 1, 10, true, true}, row{"u", 1, 20, true, true}, row{"u", 2, 10, true, true}, row{"u", 2, 20, true, true})
		sess := windowing.Sessions{Gap: 10 * ms}
		pipelinetest.EqualsElements(s.Scope("sessions"), transforms.Join(s, transforms.FullOuterJoin, windowing.Into(s, l, sess), windowing.Into(s, r, sess)),
			fired(row{"u", 1, 10, true, true}, win(0, 13)),
			fired(row{"u", 2, 20, true, true}, win(100, 114)),
			fired(row{Key: "v", Right: 30, HasRight: true}, win(200, 210)))
	})
}

// A join of sliding windows where one side has been through a window-observing ParDo.
func TestJoinSlidingAfterParDo(t *testing.T) {
	type row = transforms.Joined[string, int, int]
	sl := windowing.Sliding{Size: 20 * ms, Period: 10 * ms}
	forEachMode(t, allModes, func(s pipeline.Scope) {
		l := windowing.Into(s, pipelinetest.CreateTimed(s, timed(pair("u", 1), 5)), sl)
		r := windowing.Into(s, pipelinetest.CreateTimed(s, timed(pair("u", 2), 12)), sl)
		rStart := transforms.ParDo(s, r, transforms.DoFunc[transforms.KV[string, int], transforms.KV[string, int]](
			func(_ context.Context, e pipeline.Element[transforms.KV[string, int]], emit transforms.Emitter[transforms.KV[string, int]]) error {
				emit.Emit(pair(e.Value.Key, int(e.Window.Start)))
				return nil
			}))
		pipelinetest.EqualsElements(s, transforms.Join(s, transforms.FullOuterJoin, l, rStart),
			fired(row{Key: "u", Left: 1, HasLeft: true}, win(-10, 10)),
			fired(row{"u", 1, 0, true, true}, win(0, 20)),
			fired(row{Key: "u", Right: 10, HasRight: true}, win(10, 30)))
	})
}
