package transforms

import (
	"encoding/binary"
	"fmt"
	"iter"
	"slices"

	"github.com/kappaflow/kappa/coder"
	"github.com/kappaflow/kappa/internal/engine"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/windowing"
)

// LateDataTo asks a grouping (GroupByKey, CombinePerKey and the transforms built on them) for a late-data output,
// like Flink's sideOutputLateData: elements arriving after their window's allowed lateness are stored in *dst
// instead of being dropped (they are always counted). The element type must be the grouping's input type.
func LateDataTo[K comparable, V any](dst *pipeline.PCollection[KV[K, V]]) Option {
	return optionFunc(func(o *options) { o.late = dst })
}

func lateTarget[K comparable, V any](s pipeline.Scope, o options) (*pipeline.PCollection[KV[K, V]], bool) {
	if o.late == nil {
		return nil, true
	}
	dst, ok := o.late.(*pipeline.PCollection[KV[K, V]])
	if !ok || dst == nil {
		s.Errorf("%s: LateDataTo wants a *pipeline.PCollection[%s], got %s", o.name, pipeline.TypeName[KV[K, V]](), pipeline.CleanTypeName(fmt.Sprintf("%T", o.late)))
		return nil, false
	}
	return dst, true
}

// GroupByKey groups the values of each key per window. Each output element holds a key and the values of one pane
// of one window, as a single-use-or-more iter.Seq; its timestamp is the end of the window minus 1 ms and its pane
// says which firing produced it.
func GroupByKey[K comparable, V any](s pipeline.Scope, col pipeline.PCollection[KV[K, V]], opts ...Option) pipeline.PCollection[KV[K, iter.Seq[V]]] {
	o := applyOptions("GroupByKey", opts)
	out := group[K, V, []V, iter.Seq[V]](s, o, col, gbkAgg[V]{}, false)
	if out.Valid() {
		out.Collection().SetCoder(groupedCoder[K, V]())
	}
	return out
}

// groupedCoder encodes GroupByKey's output, KV[K, iter.Seq[V]], with the sequence materialised: the key, then the
// values as a slice. A coder built for the type itself could not encode a function.
func groupedCoder[K comparable, V any]() coder.Coder[KV[K, iter.Seq[V]]] {
	name := "Grouped(" + describe[K]() + ", " + describe[V]() + ")"
	return coder.Coder[KV[K, iter.Seq[V]]]{
		Name: name,
		Append: func(dst []byte, kv KV[K, iter.Seq[V]]) ([]byte, error) {
			kc, err := coder.Of[K]()
			if err != nil {
				return dst, err
			}
			vc, err := coder.Of[[]V]()
			if err != nil {
				return dst, err
			}
			kb, err := kc.Append(nil, kv.Key)
			if err != nil {
				return dst, err
			}
			dst = binary.AppendUvarint(dst, uint64(len(kb)))
			dst = append(dst, kb...)
			var vs []V
			if kv.Value != nil {
				vs = slices.Collect(kv.Value)
			}
			return vc.Append(dst, vs)
		},
		Decode: func(b []byte) (KV[K, iter.Seq[V]], error) {
			var kv KV[K, iter.Seq[V]]
			kc, err := coder.Of[K]()
			if err != nil {
				return kv, err
			}
			vc, err := coder.Of[[]V]()
			if err != nil {
				return kv, err
			}
			n, h := binary.Uvarint(b)
			if h <= 0 || uint64(len(b)-h) < n {
				return kv, fmt.Errorf("%s: truncated key", name)
			}
			if kv.Key, err = kc.Decode(b[h : h+int(n)]); err != nil {
				return kv, err
			}
			vs, err := vc.Decode(b[h+int(n):])
			if err != nil {
				return kv, err
			}
			kv.Value = slices.Values(vs)
			return kv, nil
		},
	}
}

type gbkAgg[V any] struct{}

func (gbkAgg[V]) Create() []V               { return nil }
func (gbkAgg[V]) Add(a []V, v V) []V        { return append(a, v) }
func (gbkAgg[V]) Merge(a, b []V) []V        { return append(a, b...) }
func (gbkAgg[V]) Extract(a []V) iter.Seq[V] { return slices.Values(a[:len(a):len(a)]) }

func group[K comparable, V, A, O any](s pipeline.Scope, o options, col pipeline.PCollection[KV[K, V]], agg engine.Aggregator[V, A, O], lift bool) pipeline.PCollection[KV[K, O]] {
	late, ok := lateTarget[K, V](s, o)
	if !ok {
		return pipeline.PCollection[KV[K, O]]{}
	}
	if !col.Valid() {
		// AddTransform records the error (unless an earlier one explains the invalid input) and adds nothing.
		pipeline.AddTransform(s, o.name, nil, col)
		return pipeline.PCollection[KV[K, O]]{}
	}
	st := windowing.Of(col)
	if !col.Collection().Bounded() {
		if _, global := st.WindowFn().(windowing.Global); global {
			if _, def := st.TriggerOrDefault().(windowing.Default); def {
				s.Errorf("%s: an unbounded collection in the global window with the default trigger would never emit: window it (windowing.Into) or set a trigger", o.name)
				return pipeline.PCollection[KV[K, O]]{}
			}
		}
	}
	t := addTransform(s, o.name, engine.NewReduce[K, V, A, O](o.name, st, agg, lift, late != nil), col)
	out := pipeline.AddOutput[KV[K, O]](s, t)
	if out.Valid() {
		out.Collection().SetWindowing(windowing.Materialized(st))
	}
	if late != nil {
		*late = pipeline.AddOutput[KV[K, V]](s, t)
	}
	return out
}

// Combiner aggregates values in four steps, so that partial aggregates can be computed on every worker before
// the shuffle (combiner lifting) and merged after it, as Beam's CombineFn. AddInput and MergeAccumulators may
// modify and return their first argument; they must not keep references to the second.
type Combiner[In, Acc, Out any] interface {
	CreateAccumulator() Acc
	AddInput(acc Acc, in In) Acc
	MergeAccumulators(a, b Acc) Acc
	ExtractOutput(acc Acc) Out
}

// CombineFuncs builds a Combiner from functions. Create may be nil (the zero Acc); Extract may be nil when Acc
// and Out are the same type.
type CombineFuncs[In, Acc, Out any] struct {
	Create  func() Acc
	Add     func(Acc, In) Acc
	Merge   func(Acc, Acc) Acc
	Extract func(Acc) Out
}

// CreateAccumulator calls Create.
func (c CombineFuncs[In, Acc, Out]) CreateAccumulator() Acc {
	if c.Create == nil {
		var zero Acc
		return zero
	}
	return c.Create()
}

// AddInput calls Add.
func (c CombineFuncs[In, Acc, Out]) AddInput(a Acc, v In) Acc { return c.Add(a, v) }

// MergeAccumulators calls Merge.
func (c CombineFuncs[In, Acc, Out]) MergeAccumulators(a, b Acc) Acc { return c.Merge(a, b) }

// ExtractOutput calls Extract, or converts Acc to Out when it is nil and they are the same type.
func (c CombineFuncs[In, Acc, Out]) ExtractOutput(a Acc) Out {
	if c.Extract == nil {
		out, _ := any(a).(Out)
		return out
	}
	return c.Extract(a)
}

// Binary builds a Combiner from an associative, commutative function (sum, min, max …): the accumulator is the
// value itself, starting from the first one.
func Binary[T any](fn func(a, b T) T) Combiner[T, Partial[T], T] {
	return binaryCombiner[T]{fn: fn}
}

// Partial is the accumulator of a Binary combiner: a value, or nothing yet.
type Partial[T any] struct {
	V   T
	Set bool
}

type binaryCombiner[T any] struct{ fn func(a, b T) T }

func (binaryCombiner[T]) CreateAccumulator() Partial[T] { return Partial[T]{} }

func (b binaryCombiner[T]) AddInput(a Partial[T], v T) Partial[T] {
	if !a.Set {
		return Partial[T]{V: v, Set: true}
	}
	return Partial[T]{V: b.fn(a.V, v), Set: true}
}

func (b binaryCombiner[T]) MergeAccumulators(x, y Partial[T]) Partial[T] {
	switch {
	case !y.Set:
		return x
	case !x.Set:
		return y
	}
	return Partial[T]{V: b.fn(x.V, y.V), Set: true}
}

func (binaryCombiner[T]) ExtractOutput(a Partial[T]) T { return a.V }

type combineAgg[In, Acc, Out any] struct{ c Combiner[In, Acc, Out] }

func (a combineAgg[In, Acc, Out]) Create() Acc           { return a.c.CreateAccumulator() }
func (a combineAgg[In, Acc, Out]) Add(acc Acc, v In) Acc { return a.c.AddInput(acc, v) }
func (a combineAgg[In, Acc, Out]) Merge(x, y Acc) Acc    { return a.c.MergeAccumulators(x, y) }
func (a combineAgg[In, Acc, Out]) Extract(acc Acc) Out   { return a.c.ExtractOutput(acc) }

// CombinePerKey combines the values of each key per window with a Combiner. Values are pre-combined on every
// worker before the shuffle, so memory grows with the number of keys and windows, not with the input.
func CombinePerKey[K comparable, In, Acc, Out any](s pipeline.Scope, col pipeline.PCollection[KV[K, In]], c Combiner[In, Acc, Out], opts ...Option) pipeline.PCollection[KV[K, Out]] {
	o := applyOptions("CombinePerKey", opts)
	if c == nil {
		s.Errorf("%s: nil combiner", o.name)
		return pipeline.PCollection[KV[K, Out]]{}
	}
	return group[K, In, Acc, Out](s, o, col, combineAgg[In, Acc, Out]{c: c}, true)
}

// Combine combines all values of each window with a Combiner (Beam's Combine.Globally). Unlike Beam, an empty
// input (or window) produces no output, as in Flink and Spark.
func Combine[In, Acc, Out any](s pipeline.Scope, col pipeline.PCollection[In], c Combiner[In, Acc, Out], opts ...Option) pipeline.PCollection[Out] {
	o := applyOptions("Combine", opts)
	s = s.Scope(o.name)
	keyed := mapNamed(s, "KeyByUnit", col, func(v In) KV[struct{}, In] { return KV[struct{}, In]{Value: v} })
	combined := CombinePerKey(s, keyed, c, append(opts, Name("CombinePerKey"))...)
	return Values(s, combined)
}

func describe[T any]() string { return pipeline.TypeName[T]() }
