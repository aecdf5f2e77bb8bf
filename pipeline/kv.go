package pipeline

import "fmt"

// KV is a key/value pair: the element type of keyed collections, which groupings (GroupByKey, CombinePerKey, the
// joins, stateful ParDo) partition and group by key. transforms.KV is the same type.
type KV[K comparable, V any] struct {
	Key   K
	Value V
}

// String formats the pair as "key=value".
func (kv KV[K, V]) String() string { return fmt.Sprintf("%v=%v", kv.Key, kv.Value) }
