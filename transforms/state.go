package transforms

import (
	"context"
	"fmt"
	"iter"
	"maps"
	"time"

	"github.com/kappaflow/kappa/internal/engine"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/windowing"
)

// StateAccess is what typed state cells read and write through: the StateContext of the element or timer being
// processed.
type StateAccess interface {
	cells() map[string]any
	clocks() (watermark pipeline.Time, now time.Time)
}

// TTL gives the values of a state declaration a time to live, like Flink's StateTtlConfig: a value written more
// than After ago is not visible any more (reads see no value), and the runner removes expired values in the
// background (a few keys per micro-batch) and when it checkpoints. Writes (Write, Add, Put) restart the clock;
// reads do not. For MapState each entry has its own clock; for the other states the whole cell has one. The
// zero TTL keeps values until their window's state goes.
type TTL struct {
	// After is how long a value lives after its last write (0: forever).
	After time.Duration
	// Clock is EventTime (the zero value: the input watermark is the clock, so replays expire data exactly as the
	// live run did) or ProcessingTime (the runner's clock, Flink's only choice before 2.0).
	Clock TimeDomain
}

// now returns the TTL's clock reading, in milliseconds; ok is false before the event-time clock has started.
func (t TTL) now(sa StateAccess) (int64, bool) {
	wm, now := sa.clocks()
	if t.Clock == ProcessingTime {
		return now.UnixMilli(), true
	}
	if wm == pipeline.MinTime {
		return 0, false
	}
	return int64(wm), true
}

// expiring is a state value with the time of its last write. It implements engine.Expiring, so the runner can
// remove it once expired without knowing its type.
type expiring[X any] struct {
	V     X
	At    int64 // milliseconds on the TTL's clock
	Life  int64 // milliseconds
	Clock TimeDomain
}

func (e expiring[X]) expiredAt(wm pipeline.Time, now time.Time) bool {
	if e.Clock == ProcessingTime {
		return now.UnixMilli() >= e.At+e.Life
	}
	return wm != pipeline.MinTime && int64(wm) >= e.At+e.Life
}

// ExpireBefore reports whether the value has expired at watermark wm and processing time now.
func (e expiring[X]) ExpireBefore(wm pipeline.Time, now time.Time) bool { return e.expiredAt(wm, now) }

// loadCell reads a cell written by storeCell, hiding (and removing) an expired value.
func loadCell[X any](sa StateAccess, name string, ttl TTL) (X, bool) {
	c := sa.cells()
	if ttl.After <= 0 {
		return engine.GetCell[X](c, name)
	}
	var zero X
	e, ok := engine.GetCell[expiring[X]](c, name)
	if !ok {
		return zero, false
	}
	if e.expiredAt(sa.clocks()) {
		delete(c, name)
		return zero, false
	}
	return e.V, true
}

// storeCell writes a cell, stamped with the TTL's clock when it has one.
func storeCell[X any](sa StateAccess, name string, ttl TTL, x X) {
	c := sa.cells()
	if ttl.After <= 0 {
		engine.SetCell(c, name, x)
		return
	}
	at, _ := ttl.now(sa)
	engine.SetCell(c, name, expiring[X]{V: x, At: at, Life: ttl.After.Milliseconds(), Clock: ttl.Clock})
}

// ValueState is a single value per key and window.
type ValueState[T any] struct {
	Name string
	// TTL, when set, makes the value expire (see TTL).
	TTL TTL
}

// Read returns the value and whether one was written (and has not expired).
func (v ValueState[T]) Read(sa StateAccess) (T, bool) { return loadCell[T](sa, v.Name, v.TTL) }

// Write stores x.
func (v ValueState[T]) Write(sa StateAccess, x T) { storeCell(sa, v.Name, v.TTL, x) }

// Clear removes the value.
func (v ValueState[T]) Clear(sa StateAccess) { delete(sa.cells(), v.Name) }

// BagState is an append-only collection of values per key and window.
type BagState[T any] struct {
	Name string
	// TTL, when set, makes the whole bag expire After its last Add (see TTL).
	TTL TTL
}

// Add appends x.
func (b BagState[T]) Add(sa StateAccess, x T) {
	s, _ := loadCell[[]T](sa, b.Name, b.TTL)
	storeCell(sa, b.Name, b.TTL, append(s, x))
}

// Read returns the values in insertion order.
func (b BagState[T]) Read(sa StateAccess) iter.Seq[T] {
	s, _ := loadCell[[]T](sa, b.Name, b.TTL)
	s = s[:len(s):len(s)]
	return func(yield func(T) bool) {
		for _, x := range s {
			if !yield(x) {
				return
			}
		}
	}
}

// Len returns the number of values.
func (b BagState[T]) Len(sa StateAccess) int {
	s, _ := loadCell[[]T](sa, b.Name, b.TTL)
	return len(s)
}

// Clear empties the bag.
func (b BagState[T]) Clear(sa StateAccess) { delete(sa.cells(), b.Name) }

// MapState is a map per key and window.
type MapState[K comparable, V any] struct {
	Name string
	// TTL, when set, makes each entry expire After its last Put (see TTL): a map of ids seen with a TTL of a
	// day is a day-long deduplication.
	TTL TTL
}

// ttlMap holds a MapState with a TTL: every entry has its own clock.
type ttlMap[K comparable, V any] map[K]expiring[V]

// ExpireBefore removes the expired entries and reports whether the map is empty.
func (m ttlMap[K, V]) ExpireBefore(wm pipeline.Time, now time.Time) bool {
	for k, e := range m {
		if e.expiredAt(wm, now) {
			delete(m, k)
		}
	}
	return len(m) == 0
}

func (m MapState[K, V]) plain(sa StateAccess, create bool) map[K]V {
	c := sa.cells()
	x, _ := engine.GetCell[map[K]V](c, m.Name)
	if x == nil && create {
		x = map[K]V{}
		engine.SetCell(c, m.Name, x)
	}
	return x
}

func (m MapState[K, V]) timed(sa StateAccess, create bool) ttlMap[K, V] {
	c := sa.cells()
	x, _ := engine.GetCell[ttlMap[K, V]](c, m.Name)
	if x == nil && create {
		x = ttlMap[K, V]{}
		engine.SetCell(c, m.Name, x)
	}
	return x
}

// Put stores v under k.
func (m MapState[K, V]) Put(sa StateAccess, k K, v V) {
	if m.TTL.After <= 0 {
		m.plain(sa, true)[k] = v
		return
	}
	at, _ := m.TTL.now(sa)
	m.timed(sa, true)[k] = expiring[V]{V: v, At: at, Life: m.TTL.After.Milliseconds(), Clock: m.TTL.Clock}
}

// Get returns the value under k.
func (m MapState[K, V]) Get(sa StateAccess, k K) (V, bool) {
	if m.TTL.After <= 0 {
		v, ok := m.plain(sa, false)[k]
		return v, ok
	}
	tm := m.timed(sa, false)
	e, ok := tm[k]
	if !ok {
		var zero V
		return zero, false
	}
	if e.expiredAt(sa.clocks()) {
		delete(tm, k)
		var zero V
		return zero, false
	}
	return e.V, true
}

// Delete removes k.
func (m MapState[K, V]) Delete(sa StateAccess, k K) {
	if m.TTL.After <= 0 {
		delete(m.plain(sa, false), k)
		return
	}
	delete(m.timed(sa, false), k)
}

// All iterates over the entries (in no particular order).
func (m MapState[K, V]) All(sa StateAccess) iter.Seq2[K, V] {
	if m.TTL.After <= 0 {
		return maps.All(maps.Clone(m.plain(sa, false)))
	}
	tm := m.timed(sa, false)
	tm.ExpireBefore(sa.clocks())
	out := make(map[K]V, len(tm))
	for k, e := range tm {
		out[k] = e.V
	}
	return maps.All(out)
}

// Clear empties the map.
func (m MapState[K, V]) Clear(sa StateAccess) { delete(sa.cells(), m.Name) }

// CombiningState folds added values with a Combiner per key and window.
type CombiningState[In, Acc, Out any] struct {
	Name     string
	Combiner Combiner[In, Acc, Out]
	// TTL, when set, makes the accumulator expire After its last Add (see TTL).
	TTL TTL
}

// Add folds in x.
func (c CombiningState[In, Acc, Out]) Add(sa StateAccess, x In) {
	acc, ok := loadCell[Acc](sa, c.Name, c.TTL)
	if !ok {
		acc = c.Combiner.CreateAccumulator()
	}
	storeCell(sa, c.Name, c.TTL, c.Combiner.AddInput(acc, x))
}

// Read returns the combined output (of an empty accumulator when nothing was added).
func (c CombiningState[In, Acc, Out]) Read(sa StateAccess) Out {
	acc, ok := loadCell[Acc](sa, c.Name, c.TTL)
	if !ok {
		acc = c.Combiner.CreateAccumulator()
	}
	return c.Combiner.ExtractOutput(acc)
}

// Clear resets the accumulator.
func (c CombiningState[In, Acc, Out]) Clear(sa StateAccess) { delete(sa.cells(), c.Name) }

// TimeDomain says which clock a timer follows.
type TimeDomain uint8

const (
	// EventTime timers fire when the input watermark reaches their time.
	EventTime TimeDomain = iota
	// ProcessingTime timers fire when the runner's clock reaches their time.
	ProcessingTime
)

// Timer is a timer that fired.
type Timer struct {
	// Name is the name it was set with.
	Name string
	// Domain is EventTime or ProcessingTime.
	Domain TimeDomain
	// Time is the event time it was set for (event-time timers).
	Time pipeline.Time
	// ProcessingTime is the clock time it was set for (processing-time timers).
	ProcessingTime time.Time
	// Window is the window whose state it belongs to.
	Window pipeline.Window
}

// StateContext gives a stateful DoFn its key, window, state cells and timers.
type StateContext[K comparable] struct {
	kc *engine.KeyContext[K]
}

func (sc *StateContext[K]) cells() map[string]any { return sc.kc.Cells() }

func (sc *StateContext[K]) clocks() (pipeline.Time, time.Time) { return sc.kc.Watermark, sc.kc.Now }

// Key returns the key being processed.
func (sc *StateContext[K]) Key() K { return sc.kc.Key }

// Window returns the window whose state is in use.
func (sc *StateContext[K]) Window() pipeline.Window { return sc.kc.Window }

// Watermark returns the input watermark.
func (sc *StateContext[K]) Watermark() pipeline.Time { return sc.kc.Watermark }

// Now returns the processing time.
func (sc *StateContext[K]) Now() time.Time { return sc.kc.Now }

// SetEventTimer sets (or moves) the event-time timer name of this key and window to t.
func (sc *StateContext[K]) SetEventTimer(name string, t pipeline.Time) {
	sc.kc.SetTimer(name, engine.TimerSpec{Domain: engine.EventTime, T: t})
}

// SetProcessingTimer sets (or moves) the processing-time timer name of this key and window to t.
func (sc *StateContext[K]) SetProcessingTimer(name string, t time.Time) {
	sc.kc.SetTimer(name, engine.TimerSpec{Domain: engine.ProcessingTime, PT: t})
}

// ClearTimer cancels the timer name.
func (sc *StateContext[K]) ClearTimer(name string) {
	sc.kc.SetTimer(name, engine.TimerSpec{Clear: true})
}

// StatefulDoFn processes the elements of each key in order of arrival, with state and timers scoped to the key
// and the element's window (Beam's stateful DoFn, Flink's KeyedProcessFunction).
type StatefulDoFn[K comparable, V, Out any] interface {
	ProcessElement(ctx context.Context, sc *StateContext[K], e pipeline.Element[V], emit Emitter[Out]) error
	OnTimer(ctx context.Context, sc *StateContext[K], t Timer, emit Emitter[Out]) error
}

// StatefulFuncs builds a StatefulDoFn from functions; OnTimer may be nil when no timers are set.
type StatefulFuncs[K comparable, V, Out any] struct {
	Process func(ctx context.Context, sc *StateContext[K], e pipeline.Element[V], emit Emitter[Out]) error
	Timer   func(ctx context.Context, sc *StateContext[K], t Timer, emit Emitter[Out]) error
}

// ProcessElement calls Process.
func (f StatefulFuncs[K, V, Out]) ProcessElement(ctx context.Context, sc *StateContext[K], e pipeline.Element[V], emit Emitter[Out]) error {
	return f.Process(ctx, sc, e, emit)
}

// OnTimer calls Timer.
func (f StatefulFuncs[K, V, Out]) OnTimer(ctx context.Context, sc *StateContext[K], t Timer, emit Emitter[Out]) error {
	if f.Timer == nil {
		return fmt.Errorf("timer %q fired but no Timer function was given", t.Name)
	}
	return f.Timer(ctx, sc, t, emit)
}

// StatefulParDo applies a stateful DoFn to a keyed collection. Elements are routed to the worker owning their key;
// state and timers are kept per key and window and dropped once the window is past its allowed lateness (timers
// due by then fire first).
func StatefulParDo[K comparable, V, Out any](s pipeline.Scope, col pipeline.PCollection[KV[K, V]], fn StatefulDoFn[K, V, Out], opts ...Option) pipeline.PCollection[Out] {
	o := applyOptions("StatefulParDo", opts)
	if fn == nil {
		s.Errorf("%s: nil DoFn", o.name)
		return pipeline.PCollection[Out]{}
	}
	st := windowing.Of(col)
	op := engine.NewStateful[K, V, Out](o.name, st, engine.StatefulFn[K, V, Out]{
		Process: func(ctx context.Context, kc *engine.KeyContext[K], e pipeline.Element[V], emit *engine.Emitter[Out]) error {
			return fn.ProcessElement(ctx, &StateContext[K]{kc: kc}, e, emit)
		},
		OnTimer: func(ctx context.Context, kc *engine.KeyContext[K], t engine.FiredTimer, emit *engine.Emitter[Out]) error {
			return fn.OnTimer(ctx, &StateContext[K]{kc: kc}, Timer{Name: t.Name, Domain: TimeDomain(t.Domain), Time: t.Time,
				ProcessingTime: t.ProcessingTime, Window: t.Window}, emit)
		},
	})
	t := addTransform(s, o.name, op, col)
	out := pipeline.AddOutput[Out](s, t)
	if out.Valid() {
		out.Collection().SetWindowing(windowing.Materialized(st))
	}
	return out
}
