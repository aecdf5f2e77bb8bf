package engine

import (
	"iter"

	"github.com/kappaflow/kappa/pipeline"
)

// Side-input contents: what a view of a side collection holds for one side window. Each kind applies the side
// collection's elements with the same "latest pane" rule: an element of a higher pane index (Pane.Index, counted
// per window — and per key for groupings) supersedes what came from lower ones, an element of a lower index than
// what is held is stale and ignored, and among elements of the same index the last to arrive is the latest. For
// collections that did not come out of a grouping every element has pane index 0.

// SideContents is the contents of one side window of a view of a collection of T.
type SideContents[T any] interface {
	// Add applies one element of the side collection.
	Add(e pipeline.Element[T])
	// Elements returns elements that rebuild these contents when added, in order, to empty ones (checkpoints).
	Elements() []pipeline.Element[T]
}

// SingletonContents is the contents of an AsSingleton view: the latest element.
type SingletonContents[T any] struct {
	e   pipeline.Element[T]
	set bool
}

// Add keeps e unless the element held has a higher pane index.
func (c *SingletonContents[T]) Add(e pipeline.Element[T]) {
	if c.set && e.Pane.Index < c.e.Pane.Index {
		return
	}
	c.e, c.set = e, true
}

// Elements returns the element held.
func (c *SingletonContents[T]) Elements() []pipeline.Element[T] {
	if c == nil || !c.set {
		return nil
	}
	return []pipeline.Element[T]{c.e}
}

// Value returns the latest element's value, and false when the window has none.
func (c *SingletonContents[T]) Value() (T, bool) {
	if c == nil || !c.set {
		var zero T
		return zero, false
	}
	return c.e.Value, true
}

// IterContents is the contents of an AsIter view: the elements of the window's latest pane, in arrival order.
type IterContents[T any] struct {
	idx int64
	es  []pipeline.Element[T]
}

// Add appends e, or starts over when e belongs to a later pane.
func (c *IterContents[T]) Add(e pipeline.Element[T]) {
	switch {
	case len(c.es) == 0 || e.Pane.Index > c.idx:
		clear(c.es)
		c.es, c.idx = append(c.es[:0], e), e.Pane.Index
	case e.Pane.Index == c.idx:
		c.es = append(c.es, e)
	}
}

// Elements returns the elements held.
func (c *IterContents[T]) Elements() []pipeline.Element[T] {
	if c == nil {
		return nil
	}
	return c.es
}

// Len returns the number of values.
func (c *IterContents[T]) Len() int {
	if c == nil {
		return 0
	}
	return len(c.es)
}

// All iterates over the values in arrival order.
func (c *IterContents[T]) All() iter.Seq[T] {
	return func(yield func(T) bool) {
		if c == nil {
			return
		}
		for i := range c.es {
			if !yield(c.es[i].Value) {
				return
			}
		}
	}
}

type mapEntry[V any] struct {
	v   V
	t   pipeline.Time
	idx int64
}

// MapContents is the contents of an AsMap view: per key, the value of the key's latest pane (the last to arrive
// among values of the same pane).
type MapContents[K comparable, V any] struct {
	m map[K]mapEntry[V]
}

// Add sets the value of e's key unless the key's value came from a later pane.
func (c *MapContents[K, V]) Add(e pipeline.Element[pipeline.KV[K, V]]) {
	if c.m == nil {
		c.m = map[K]mapEntry[V]{}
	}
	if old, ok := c.m[e.Value.Key]; ok && e.Pane.Index < old.idx {
		return
	}
	c.m[e.Value.Key] = mapEntry[V]{v: e.Value.Value, t: e.Time, idx: e.Pane.Index}
}

// Elements returns one element per key.
func (c *MapContents[K, V]) Elements() []pipeline.Element[pipeline.KV[K, V]] {
	if c == nil {
		return nil
	}
	out := make([]pipeline.Element[pipeline.KV[K, V]], 0, len(c.m))
	for k, e := range c.m {
		out = append(out, pipeline.Element[pipeline.KV[K, V]]{Value: pipeline.KV[K, V]{Key: k, Value: e.v}, Time: e.t,
			Pane: pipeline.Pane{Index: e.idx}})
	}
	return out
}

// Get returns the value of k.
func (c *MapContents[K, V]) Get(k K) (V, bool) {
	if c == nil {
		var zero V
		return zero, false
	}
	e, ok := c.m[k]
	return e.v, ok
}

// Len returns the number of keys.
func (c *MapContents[K, V]) Len() int {
	if c == nil {
		return 0
	}
	return len(c.m)
}

// All iterates over the keys and values, in no particular order.
func (c *MapContents[K, V]) All() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		if c == nil {
			return
		}
		for k, e := range c.m {
			if !yield(k, e.v) {
				return
			}
		}
	}
}

type multiEntry[V any] struct {
	vs  []V
	ts  []pipeline.Time
	idx int64
}

// MultiMapContents is the contents of an AsMultiMap view: per key, the values of the key's latest pane, in
// arrival order.
type MultiMapContents[K comparable, V any] struct {
	m map[K]*multiEntry[V]
}

// Add appends e's value to its key's values, or starts them over when e belongs to a later pane.
func (c *MultiMapContents[K, V]) Add(e pipeline.Element[pipeline.KV[K, V]]) {
	if c.m == nil {
		c.m = map[K]*multiEntry[V]{}
	}
	old := c.m[e.Value.Key]
	switch {
	case old == nil:
		c.m[e.Value.Key] = &multiEntry[V]{vs: []V{e.Value.Value}, ts: []pipeline.Time{e.Time}, idx: e.Pane.Index}
	case e.Pane.Index > old.idx:
		*old = multiEntry[V]{vs: []V{e.Value.Value}, ts: []pipeline.Time{e.Time}, idx: e.Pane.Index}
	case e.Pane.Index == old.idx:
		old.vs = append(old.vs, e.Value.Value)
		old.ts = append(old.ts, e.Time)
	}
}

// Elements returns the values of every key, in order.
func (c *MultiMapContents[K, V]) Elements() []pipeline.Element[pipeline.KV[K, V]] {
	if c == nil {
		return nil
	}
	var out []pipeline.Element[pipeline.KV[K, V]]
	for k, e := range c.m {
		for i, v := range e.vs {
			out = append(out, pipeline.Element[pipeline.KV[K, V]]{Value: pipeline.KV[K, V]{Key: k, Value: v}, Time: e.ts[i],
				Pane: pipeline.Pane{Index: e.idx}})
		}
	}
	return out
}

// Get returns the values of k (shared: do not modify them).
func (c *MultiMapContents[K, V]) Get(k K) []V {
	if c == nil {
		return nil
	}
	if e := c.m[k]; e != nil {
		return e.vs[:len(e.vs):len(e.vs)]
	}
	return nil
}

// Len returns the number of keys.
func (c *MultiMapContents[K, V]) Len() int {
	if c == nil {
		return 0
	}
	return len(c.m)
}

// Keys iterates over the keys, in no particular order.
func (c *MultiMapContents[K, V]) Keys() iter.Seq[K] {
	return func(yield func(K) bool) {
		if c == nil {
			return
		}
		for k := range c.m {
			if !yield(k) {
				return
			}
		}
	}
}
