package transforms

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/kappaflow/kappa/internal/engine"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/windowing"
)

// Change is one update of a changelog table (a compacted Kafka topic read with kafkaio.DecodeChange, a CDC
// stream): the key's new value from the element's event time on, or its deletion (a tombstone).
type Change[T any] struct {
	// Value is the new value (the zero value when Delete is set).
	Value T
	// Delete marks a tombstone: from this time on the key is not in the table.
	Delete bool
}

// TableJoined is one result of a stream–table join: the stream record and the table value valid at the record's
// event time.
type TableJoined[V, T any] struct {
	// Value is the stream record's value.
	Value V
	// Table is the table's value for the key at the record's event time (the zero value when Found is false).
	Table T
	// Found is false when the key had no value at that time (left joins only; inner joins drop such records).
	Found bool
}

// TableJoin joins each stream record with the table version valid at the record's event time t: the latest
// table update of the record's key with a timestamp ≤ t (an event-time temporal join, Flink's
// "FOR SYSTEM_TIME AS OF"). Records whose key has no value at t (never set, or deleted by a tombstone) are
// dropped; LeftTableJoin keeps them with Found false.
//
// The table is a changelog: each element of table sets its key's value from its timestamp on, or deletes it.
// A stream record waits in keyed state until the watermark of both inputs has passed its time, so that every
// table update it may need has arrived; it is then emitted with its own timestamp, in the global window (window
// the output afterwards). Table versions no record can need any more (older than the latest one before the
// watermark) are dropped as the watermark advances, so the state holds about one version per key plus the
// updates and records of the last watermark delay. The state is ordinary keyed state: it spills under the
// runner's state-memory budget and is in checkpoints. Both inputs are re-windowed into the global window.
//
// A record that is already behind the watermark when it arrives (late) is joined at once, with the version
// valid at its time if the join still holds it, else with the oldest version held (the one valid at the
// watermark when old versions were cleaned up). Updates of one key with the same timestamp apply in arrival
// order (the last one wins), which is offset order within a Kafka partition. See docs/tablejoin.md.
func TableJoin[K comparable, V, T any](s pipeline.Scope, stream pipeline.PCollection[KV[K, V]], table pipeline.PCollection[KV[K, Change[T]]], opts ...Option) pipeline.PCollection[KV[K, TableJoined[V, T]]] {
	return tableJoin(s, "TableJoin", stream, table, false, opts)
}

// LeftTableJoin is TableJoin that also emits the stream records whose key has no table value at their time,
// with Found false and a zero Table.
func LeftTableJoin[K comparable, V, T any](s pipeline.Scope, stream pipeline.PCollection[KV[K, V]], table pipeline.PCollection[KV[K, Change[T]]], opts ...Option) pipeline.PCollection[KV[K, TableJoined[V, T]]] {
	return tableJoin(s, "LeftTableJoin", stream, table, true, opts)
}

// tjInput is what the join's stateful step sees: a stream record or a table update.
type tjInput[V, T any] struct {
	Rec     V
	Upd     Change[T]
	IsTable bool
}

// tjVersion is one table version: the value (or deletion) from At on, in milliseconds of event time.
type tjVersion[T any] struct {
	At     int64
	Value  T
	Delete bool
}

// tjPending is a stream record waiting for the watermark to pass its time.
type tjPending[V any] struct {
	At    int64
	Value V
}

const (
	tjVersions = "tablejoin.versions" // []tjVersion, sorted by At
	tjWaiting  = "tablejoin.pending"  // []tjPending, sorted by At
	tjEmit     = "tablejoin.emit"     // timer: the earliest pending record can be joined
	tjClean    = "tablejoin.clean"    // timer: the oldest table version can be dropped
	tjCleaned  = "tablejoin.cleaned"  // int64: the latest time versions were dropped at, where the watermark is unknown
)

func tableJoin[K comparable, V, T any](s pipeline.Scope, kind string, stream pipeline.PCollection[KV[K, V]], table pipeline.PCollection[KV[K, Change[T]]], left bool, opts []Option) pipeline.PCollection[KV[K, TableJoined[V, T]]] {
	o := applyOptions(kind, opts)
	s = s.Scope(o.name)
	engine.RegisterGob[[]tjVersion[T]]()
	engine.RegisterGob[[]tjPending[V]]()
	sg := windowing.Into(s, stream, windowing.Global{})
	tg := windowing.Into(s, table, windowing.Global{})
	st := mapNamed(s, "TagStream", sg, func(kv KV[K, V]) KV[K, tjInput[V, T]] {
		return KV[K, tjInput[V, T]]{Key: kv.Key, Value: tjInput[V, T]{Rec: kv.Value}}
	})
	tt := mapNamed(s, "TagTable", tg, func(kv KV[K, Change[T]]) KV[K, tjInput[V, T]] {
		return KV[K, tjInput[V, T]]{Key: kv.Key, Value: tjInput[V, T]{Upd: kv.Value, IsTable: true}}
	})
	both := Flatten(s, st, tt)
	return StatefulParDo[K, tjInput[V, T], KV[K, TableJoined[V, T]]](s, both, &tableJoinFn[K, V, T]{left: left}, Name("Join"))
}

// tableJoinFn is the stateful step of TableJoin.
type tableJoinFn[K comparable, V, T any] struct {
	left bool
}

var _ StatefulDoFn[string, tjInput[int, int], KV[string, TableJoined[int, int]]] = (*tableJoinFn[string, int, int])(nil)

// ProcessElement stores a table update, or joins or buffers a stream record.
func (f *tableJoinFn[K, V, T]) ProcessElement(_ context.Context, sc *StateContext[K], e pipeline.Element[tjInput[V, T]], emit Emitter[KV[K, TableJoined[V, T]]]) error {
	vs := ValueState[[]tjVersion[T]]{Name: tjVersions}
	at := int64(e.Time)
	wm := int64(sc.Watermark())
	if e.Value.IsTable {
		cur, _ := vs.Read(sc)
		i := sort.Search(len(cur), func(i int) bool { return cur[i].At >= at })
		nv := tjVersion[T]{At: at, Value: e.Value.Upd.Value, Delete: e.Value.Upd.Delete}
		if i < len(cur) && cur[i].At == at {
			cur[i] = nv // same timestamp: the later arrival wins
		} else {
			cur = slices.Insert(cur, i, nv)
		}
		f.storeVersions(sc, f.prune(cur, pruneBound[K, V](sc)))
		return nil
	}
	if sc.Watermark() != pipeline.MinTime && at < wm {
		// Late: every update it could need has arrived; join now with what is held.
		cur, _ := vs.Read(sc)
		f.join(sc.Key(), e.Value.Rec, e.Time, cur, sc.Watermark(), emit)
		return nil
	}
	ps := ValueState[[]tjPending[V]]{Name: tjWaiting}
	cur, _ := ps.Read(sc)
	i := sort.Search(len(cur), func(i int) bool { return cur[i].At > at })
	cur = slices.Insert(cur, i, tjPending[V]{At: at, Value: e.Value.Rec})
	ps.Write(sc, cur)
	if i == 0 {
		setEmitTimer(sc, at)
	}
	return nil
}

// OnTimer joins the records the watermark has passed, and drops table versions no future record needs.
//
// An event-time timer that fires at t proves that the input watermark has reached t, so the join takes the later
// of StateContext.Watermark and t as the watermark. Runners that do not give a DoFn its watermark (Beam, where
// StateContext.Watermark reads MinTime) drive the join by its timers alone: each firing releases the records
// before t and drops the versions they no longer need, and the timers it sets again are always after t, so they
// never fire twice at the same time. Whichever of the two timers fires releases the records before the
// watermark (they may fire in any order at the same watermark): the cleanup that follows then never has to wait
// for them.
//
// Where the watermark is unknown, a record behind it is not recognised as late when it arrives: it waits, its
// timer fires at once, and it is released here. The join then keeps the time it last dropped versions at, so
// that such a record, older than that time, is joined as runners/local joins a late record (with the oldest
// version held when the one valid at its time was dropped).
func (f *tableJoinFn[K, V, T]) OnTimer(_ context.Context, sc *StateContext[K], t Timer, emit Emitter[KV[K, TableJoined[V, T]]]) error {
	if t.Name != tjEmit && t.Name != tjClean {
		return fmt.Errorf("table join: unknown timer %q", t.Name)
	}
	wm := max(sc.Watermark(), t.Time)
	vs := ValueState[[]tjVersion[T]]{Name: tjVersions}
	cur, _ := vs.Read(sc)
	ps := ValueState[[]tjPending[V]]{Name: tjWaiting}
	pend, _ := ps.Read(sc)
	if t.Name == tjEmit && len(pend) > 0 {
		// The emit timer is always set for the earliest waiting record (setEmitTimer): it fired at
		// pend[0].At+1. (Beam Go gives the callback the timer's output timestamp, pend[0].At, not its time.)
		wm = max(wm, pipeline.Time(pend[0].At+1))
	}
	unknownWM := sc.Watermark() == pipeline.MinTime // a timer fired: the watermark is past MinTime, so unknown
	cleaned := ValueState[int64]{Name: tjCleaned}
	lateWM := pipeline.MinTime
	if unknownWM {
		if c, ok := cleaned.Read(sc); ok {
			lateWM = pipeline.Time(c)
		}
	}
	n := 0
	for n < len(pend) && pend[n].At < int64(wm) {
		lw := pipeline.MinTime
		if pend[n].At < int64(lateWM) {
			lw = lateWM // late: versions valid at its time may have been dropped
		}
		f.join(sc.Key(), pend[n].Value, pipeline.Time(pend[n].At), cur, lw, emit)
		n++
	}
	switch {
	case n == 0 && t.Name == tjClean:
		// Nothing released: the emit timer stays as it is.
	case n == len(pend):
		ps.Clear(sc)
		if t.Name != tjEmit {
			sc.ClearTimer(tjEmit)
		}
	default:
		rest := slices.Clone(pend[n:])
		ps.Write(sc, rest)
		setEmitTimer(sc, rest[0].At)
	}
	kept := f.prune(cur, wm) // every record before wm is joined: prune up to it
	if unknownWM {
		switch {
		case len(kept) == 0:
			cleaned.Clear(sc)
		case len(kept) < len(cur):
			cleaned.Write(sc, max(int64(lateWM), int64(wm)))
		}
	}
	f.storeVersions(sc, kept)
	return nil
}

// setEmitTimer sets the timer that releases the earliest waiting record, at time at: it fires at at+1, once the
// watermark has passed at, and its output timestamp is at, the time the record is emitted with, so that runners
// holding the output watermark per timer (Beam) keep the windows downstream open for the record. OnTimer relies
// on the timer being always set for the earliest waiting record.
func setEmitTimer[K comparable](sc *StateContext[K], at int64) {
	sc.kc.SetTimer(tjEmit, engine.TimerSpec{Domain: engine.EventTime, T: pipeline.Time(at + 1), Output: pipeline.Time(at), HasOutput: true})
}

// pruneBound is the time before which only the latest table version is needed: the watermark, or the time of
// the earliest waiting record when that is earlier (timers due at the same watermark may fire in any order,
// and cleanup must not run ahead of the records it would starve).
func pruneBound[K comparable, V any](sc *StateContext[K]) pipeline.Time {
	wm := sc.Watermark()
	if pend, _ := (ValueState[[]tjPending[V]]{Name: tjWaiting}).Read(sc); len(pend) > 0 && pipeline.Time(pend[0].At) < wm {
		return pipeline.Time(pend[0].At)
	}
	return wm
}

// prune drops the versions that no record at or after wm can see: all but the latest one before wm, and that
// one too when it is a deletion.
func (f *tableJoinFn[K, V, T]) prune(cur []tjVersion[T], wm pipeline.Time) []tjVersion[T] {
	if wm == pipeline.MinTime || len(cur) == 0 {
		return cur
	}
	i := sort.Search(len(cur), func(i int) bool { return cur[i].At >= int64(wm) }) // cur[:i] are before wm
	if i == 0 {
		return cur
	}
	keep := i - 1
	if cur[keep].Delete {
		keep = i
	}
	if keep == 0 {
		return cur
	}
	return slices.Clone(cur[keep:])
}

// storeVersions writes the versions and sets the cleanup timer at the first time a prune would drop one.
func (f *tableJoinFn[K, V, T]) storeVersions(sc *StateContext[K], cur []tjVersion[T]) {
	vs := ValueState[[]tjVersion[T]]{Name: tjVersions}
	if len(cur) == 0 {
		vs.Clear(sc)
		sc.ClearTimer(tjClean)
		return
	}
	vs.Write(sc, cur)
	switch {
	case len(cur) > 1:
		sc.SetEventTimer(tjClean, pipeline.Time(cur[1].At+1))
	case cur[0].Delete:
		sc.SetEventTimer(tjClean, pipeline.Time(cur[0].At+1))
	default:
		sc.ClearTimer(tjClean)
	}
}

// join emits rec (at time at) joined with the version valid at that time. For a late record, lateWM is the
// watermark it arrived behind: when the oldest held version is older than that watermark, older versions may
// have been cleaned up, and a record older than every held version sees the oldest one.
func (f *tableJoinFn[K, V, T]) join(k K, rec V, at pipeline.Time, cur []tjVersion[T], lateWM pipeline.Time, emit Emitter[KV[K, TableJoined[V, T]]]) {
	i := sort.Search(len(cur), func(i int) bool { return cur[i].At > int64(at) }) // cur[i-1] is valid at `at`
	out := TableJoined[V, T]{Value: rec}
	switch {
	case i > 0 && !cur[i-1].Delete:
		out.Table, out.Found = cur[i-1].Value, true
	case i == 0 && len(cur) > 0 && cur[0].At < int64(lateWM) && !cur[0].Delete:
		out.Table, out.Found = cur[0].Value, true
	}
	if !out.Found && !f.left {
		return
	}
	emit.EmitElement(pipeline.Element[KV[K, TableJoined[V, T]]]{Value: KV[K, TableJoined[V, T]]{Key: k, Value: out},
		Time: at, Window: pipeline.GlobalWindow, Pane: pipeline.NoFiringPane})
}
