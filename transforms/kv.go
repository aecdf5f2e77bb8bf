package transforms

import (
	"github.com/kappaflow/kappa/pipeline"
)

// KV is a key/value pair: the element type of keyed collections, which GroupByKey, CombinePerKey and the joins
// group per key and window. It is pipeline.KV, named here where the transforms that use it live.
type KV[K comparable, V any] = pipeline.KV[K, V]

// Pair returns KV{k, v}.
func Pair[K comparable, V any](k K, v V) KV[K, V] { return KV[K, V]{Key: k, Value: v} }

// KeyBy keys each element by fn(element).
func KeyBy[K comparable, V any](s pipeline.Scope, col pipeline.PCollection[V], fn func(V) K) pipeline.PCollection[KV[K, V]] {
	if fn == nil {
		s.Errorf("KeyBy: nil function")
		return pipeline.PCollection[KV[K, V]]{}
	}
	return mapNamed(s, "KeyBy", col, func(v V) KV[K, V] { return KV[K, V]{Key: fn(v), Value: v} })
}

// Keys returns the keys of a keyed collection.
func Keys[K comparable, V any](s pipeline.Scope, col pipeline.PCollection[KV[K, V]]) pipeline.PCollection[K] {
	return mapNamed(s, "Keys", col, func(kv KV[K, V]) K { return kv.Key })
}

// Values returns the values of a keyed collection.
func Values[K comparable, V any](s pipeline.Scope, col pipeline.PCollection[KV[K, V]]) pipeline.PCollection[V] {
	return mapNamed(s, "Values", col, func(kv KV[K, V]) V { return kv.Value })
}
