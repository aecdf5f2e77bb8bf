package transforms

import (
	"iter"

	"github.com/kappaflow/kappa/internal/engine"
	"github.com/kappaflow/kappa/pipeline"
)

// Changelog and snapshot side inputs: AsTable (a changelog with tombstones applied into a table, Kafka Streams'
// GlobalKTable) and the Snapshots option (each pane of the side collection is a whole snapshot, as io/refresh
// emits). Both are ordinary views — a viewDef over an engine.SideInput with its own SideContents — so everything
// the runners do for side inputs (broadcast, readiness, holds, checkpoints) applies to them unchanged.

// ViewOption configures AsMap, AsMultiMap and AsTable.
type ViewOption interface{ applyView(*viewOptions) }

type viewOptions struct {
	snapshots bool
}

type viewOptionFunc func(*viewOptions)

func (f viewOptionFunc) applyView(o *viewOptions) { f(o) }

// Snapshots makes a keyed view treat each pane of the side collection as a whole snapshot of the window: an
// element of a higher pane index than the view holds replaces everything the view holds for the window — every
// key, not only its own — so a key missing from the newer snapshot is gone. Use it for collections whose pane
// index counts snapshots of the whole table, as io/refresh emits (a re-read file): without it AsMap keeps, per
// key, the value of the key's latest pane, and a row deleted from the file would stay in the view. Elements of a
// lower pane index than the view holds are stale and ignored; within a pane the view applies elements as it
// does without the option.
//
// Do not use it on the output of a grouping: groupings count panes per key, and a key's early pane would
// discard the other keys.
func Snapshots() ViewOption { return viewOptionFunc(func(o *viewOptions) { o.snapshots = true }) }

// mark records the options on the view's definition (nil when the view is invalid).
func (o viewOptions) mark(d *viewDef) *viewDef {
	if d != nil {
		d.snapshots = o.snapshots
	}
	return d
}

func applyViewOptions(opts []ViewOption) viewOptions {
	var o viewOptions
	for _, x := range opts {
		if x != nil {
			x.applyView(&o)
		}
	}
	return o
}

// withSnapshots wraps newContents in snapshot contents when the options ask for them.
func withSnapshots[T any](o viewOptions, newContents func() engine.SideContents[T]) func() engine.SideContents[T] {
	if !o.snapshots {
		return newContents
	}
	return func() engine.SideContents[T] { return &snapshotContents[T]{newInner: newContents} }
}

// snapshotContents holds the contents of the window's latest pane only: a higher pane index starts them over.
type snapshotContents[T any] struct {
	newInner func() engine.SideContents[T]
	cur      engine.SideContents[T]
	idx      int64
}

// Add applies e to the current snapshot, starts a new one when e belongs to a later pane, or ignores e when it
// belongs to an earlier one.
func (c *snapshotContents[T]) Add(e pipeline.Element[T]) {
	switch {
	case c.cur == nil || e.Pane.Index > c.idx:
		c.cur, c.idx = c.newInner(), e.Pane.Index
	case e.Pane.Index < c.idx:
		return
	}
	c.cur.Add(e)
}

// Elements returns the current snapshot's elements (they all carry its pane index, so adding them to empty
// contents rebuilds the same snapshot).
func (c *snapshotContents[T]) Elements() []pipeline.Element[T] {
	if c == nil || c.cur == nil {
		return nil
	}
	es := c.cur.Elements()
	for i := range es {
		es[i].Pane.Index = c.idx
	}
	return es
}

// sideContents returns the contents a view reads: the current snapshot's for snapshot contents.
func (c *snapshotContents[T]) sideContents() any {
	if c == nil {
		return nil
	}
	return c.cur
}

// TableView is an AsTable view: a changelog applied into a table, per window.
type TableView[K comparable, T any] struct{ d *viewDef }

// AsTable views a changelog — updates and deletions of keys, such as a compacted Kafka topic read with
// kafkaio.DecodeChange and mapped to KV[K, Change[T]] — as the table it describes: per key, the value of the
// key's latest change, and no row for a key whose latest change is a deletion (a tombstone). This is Kafka
// Streams' GlobalKTable (and Flink's broadcast state fed by a changelog) as a side input.
//
// Within a side window the changes of a key apply in event-time order, then pane order, then arrival order: a
// change older (in event time) than the key's current one does not overwrite it, and a deletion at time t removes
// the key for every change up to t, even one that arrives later (out of order). To make that hold, a deleted key
// keeps a tombstone (its key and the deletion's time) in the view; Len and All do not count tombstones.
//
// As for every view, in stream mode a main element sees the table as it is at the end of the micro-batch it is
// processed in, and changes arriving later update it for later main elements; in batch mode a main element sees
// the complete window (for a globally windowed changelog read from a bounded source: the whole topic). Unlike
// TableJoin, which joins each record with the table version valid at the record's event time, the table is not
// versioned: it is the latest state. The whole table is held in memory on every worker: for big tables use
// TableJoin (docs/sideinputs.md).
//
// With Snapshots, a change of a higher pane index than the view holds starts the table over.
func AsTable[K comparable, T any](s pipeline.Scope, col pipeline.PCollection[KV[K, Change[T]]], opts ...ViewOption) TableView[K, T] {
	o := applyViewOptions(opts)
	return TableView[K, T]{d: o.mark(newView(s, "AsTable", col, withSnapshots(o, func() engine.SideContents[KV[K, Change[T]]] {
		return &tableContents[K, T]{}
	})))}
}

func (v TableView[K, T]) viewDef() *viewDef { return v.d }

// Lookup returns the value of k for the element being processed, and false when the table has no row for k
// (never set, or deleted).
func (v TableView[K, T]) Lookup(side Side, k K) (T, bool) {
	c, _ := side.contents(v.d).(*tableContents[K, T])
	return c.get(k)
}

// All iterates over the table's rows for the element being processed, in no particular order.
func (v TableView[K, T]) All(side Side) iter.Seq2[K, T] {
	c, _ := side.contents(v.d).(*tableContents[K, T])
	return c.all()
}

// Len returns the number of rows (keys not deleted) for the element being processed.
func (v TableView[K, T]) Len(side Side) int {
	c, _ := side.contents(v.d).(*tableContents[K, T])
	if c == nil {
		return 0
	}
	return c.live
}

// tableRow is a key's latest change: its value, or a tombstone.
type tableRow[T any] struct {
	v   T
	t   pipeline.Time
	idx int64
	del bool
}

// tableContents is the contents of an AsTable view: per key, the latest change in (event time, pane index,
// arrival) order. It implements engine.SideContents.
type tableContents[K comparable, T any] struct {
	m    map[K]tableRow[T]
	live int // keys whose latest change is not a deletion
}

var _ engine.SideContents[KV[string, Change[int]]] = (*tableContents[string, int])(nil)

// Add applies one change unless the key's current change is later (event time, then pane index).
func (c *tableContents[K, T]) Add(e pipeline.Element[KV[K, Change[T]]]) {
	if c.m == nil {
		c.m = map[K]tableRow[T]{}
	}
	k := e.Value.Key
	old, ok := c.m[k]
	if ok && (e.Time < old.t || e.Time == old.t && e.Pane.Index < old.idx) {
		return
	}
	row := tableRow[T]{t: e.Time, idx: e.Pane.Index, del: e.Value.Value.Delete}
	if !row.del {
		row.v = e.Value.Value.Value
	}
	switch {
	case (!ok || old.del) && !row.del:
		c.live++
	case ok && !old.del && row.del:
		c.live--
	}
	c.m[k] = row
}

// Elements returns one change per key, tombstones included, so that a restored table keeps ignoring older
// changes of deleted keys.
func (c *tableContents[K, T]) Elements() []pipeline.Element[KV[K, Change[T]]] {
	if c == nil {
		return nil
	}
	out := make([]pipeline.Element[KV[K, Change[T]]], 0, len(c.m))
	for k, r := range c.m {
		out = append(out, pipeline.Element[KV[K, Change[T]]]{Value: KV[K, Change[T]]{Key: k, Value: Change[T]{Value: r.v, Delete: r.del}},
			Time: r.t, Pane: pipeline.Pane{Index: r.idx}})
	}
	return out
}

func (c *tableContents[K, T]) get(k K) (T, bool) {
	if c == nil {
		var zero T
		return zero, false
	}
	r, ok := c.m[k]
	if !ok || r.del {
		var zero T
		return zero, false
	}
	return r.v, true
}

func (c *tableContents[K, T]) all() iter.Seq2[K, T] {
	return func(yield func(K, T) bool) {
		if c == nil {
			return
		}
		for k, r := range c.m {
			if r.del {
				continue
			}
			if !yield(k, r.v) {
				return
			}
		}
	}
}
