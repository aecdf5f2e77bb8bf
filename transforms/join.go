package transforms

import (
	"iter"

	"github.com/kappaflow/kappa/pipeline"
)

// CoGrouped holds, for one key, window and pane, the values of the key in each of two inputs.
type CoGrouped[A, B any] struct {
	Left  []A
	Right []B
}

type either[A, B any] struct {
	a     A
	b     B
	right bool
}

// CoGroupByKey groups two keyed collections together per key and window: each output holds a key and all of its
// values from both inputs. Both inputs must have the same windowing.
func CoGroupByKey[K comparable, A, B any](s pipeline.Scope, left pipeline.PCollection[KV[K, A]], right pipeline.PCollection[KV[K, B]], opts ...Option) pipeline.PCollection[KV[K, CoGrouped[A, B]]] {
	o := applyOptions("CoGroupByKey", opts)
	s = s.Scope(o.name)
	l := mapNamed(s, "TagLeft", left, func(kv KV[K, A]) KV[K, either[A, B]] {
		return KV[K, either[A, B]]{Key: kv.Key, Value: either[A, B]{a: kv.Value}}
	})
	r := mapNamed(s, "TagRight", right, func(kv KV[K, B]) KV[K, either[A, B]] {
		return KV[K, either[A, B]]{Key: kv.Key, Value: either[A, B]{b: kv.Value, right: true}}
	})
	both := Flatten(s, l, r)
	grouped := group[K, either[A, B], CoGrouped[A, B], CoGrouped[A, B]](s, options{name: "GroupByKey", late: nil}, both, coAgg[A, B]{}, false)
	return grouped
}

type coAgg[A, B any] struct{}

func (coAgg[A, B]) Create() CoGrouped[A, B] { return CoGrouped[A, B]{} }

func (coAgg[A, B]) Add(c CoGrouped[A, B], v either[A, B]) CoGrouped[A, B] {
	if v.right {
		c.Right = append(c.Right, v.b)
	} else {
		c.Left = append(c.Left, v.a)
	}
	return c
}

func (coAgg[A, B]) Merge(x, y CoGrouped[A, B]) CoGrouped[A, B] {
	x.Left = append(x.Left, y.Left...)
	x.Right = append(x.Right, y.Right...)
	return x
}

func (coAgg[A, B]) Extract(c CoGrouped[A, B]) CoGrouped[A, B] {
	return CoGrouped[A, B]{Left: c.Left[:len(c.Left):len(c.Left)], Right: c.Right[:len(c.Right):len(c.Right)]}
}

// Joined is one result of a join: a key with one value from each side. In outer joins a missing side is the
// zero value with its Has flag false.
type Joined[K comparable, A, B any] struct {
	Key      K
	Left     A
	Right    B
	HasLeft  bool
	HasRight bool
}

// JoinKind selects inner or outer join semantics.
type JoinKind uint8

const (
	// InnerJoin emits pairs for keys present on both sides.
	InnerJoin JoinKind = iota
	// LeftOuterJoin also emits left values without a right match.
	LeftOuterJoin
	// RightOuterJoin also emits right values without a left match.
	RightOuterJoin
	// FullOuterJoin emits unmatched values of both sides.
	FullOuterJoin
)

// Join joins two keyed collections per key and window (on CoGroupByKey): every left value with every right value
// of the same key, window and pane, plus unmatched values for outer joins.
func Join[K comparable, A, B any](s pipeline.Scope, kind JoinKind, left pipeline.PCollection[KV[K, A]], right pipeline.PCollection[KV[K, B]], opts ...Option) pipeline.PCollection[Joined[K, A, B]] {
	o := applyOptions("Join", opts)
	s = s.Scope(o.name)
	co := CoGroupByKey(s, left, right)
	return FlatMap(s, co, func(kv KV[K, CoGrouped[A, B]]) []Joined[K, A, B] {
		return joinRows(kind, kv.Key, kv.Value)
	})
}

func joinRows[K comparable, A, B any](kind JoinKind, k K, g CoGrouped[A, B]) []Joined[K, A, B] {
	var out []Joined[K, A, B]
	switch {
	case len(g.Left) > 0 && len(g.Right) > 0:
		out = make([]Joined[K, A, B], 0, len(g.Left)*len(g.Right))
		for _, a := range g.Left {
			for _, b := range g.Right {
				out = append(out, Joined[K, A, B]{Key: k, Left: a, Right: b, HasLeft: true, HasRight: true})
			}
		}
	case len(g.Left) > 0 && (kind == LeftOuterJoin || kind == FullOuterJoin):
		for _, a := range g.Left {
			out = append(out, Joined[K, A, B]{Key: k, Left: a, HasLeft: true})
		}
	case len(g.Right) > 0 && (kind == RightOuterJoin || kind == FullOuterJoin):
		for _, b := range g.Right {
			out = append(out, Joined[K, A, B]{Key: k, Right: b, HasRight: true})
		}
	}
	return out
}

// Seq returns the values of a grouped iterator as a slice (a convenience for GroupByKey outputs).
func Seq[V any](seq iter.Seq[V]) []V {
	var out []V
	for v := range seq {
		out = append(out, v)
	}
	return out
}
