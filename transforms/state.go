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
}

// ValueState is a single value per key and window.
type ValueState[T any] struct{ Name string }

// Read returns the value and whether one was written.
func (v ValueState[T]) Read(sa StateAccess) (T, bool) {
	x, ok := sa.cells()[v.Name].(T)
	return x, ok
}

// Write stores x.
func (v ValueState[T]) Write(sa StateAccess, x T) {
	engine.RegisterGob[T]()
	sa.cells()[v.Name] = x
}

// Clear removes the value.
func (v ValueState[T]) Clear(sa StateAccess) { delete(sa.cells(), v.Name) }

// BagState is an append-only collection of values per key and window.
type BagState[T any] struct{ Name string }

// Add appends x.
func (b BagState[T]) Add(sa StateAccess, x T) {
	c := sa.cells()
	s, ok := c[b.Name].([]T)
	if !ok {
		engine.RegisterGob[[]T]()
	}
	c[b.Name] = append(s, x)
}

// Read returns the values in insertion order.
func (b BagState[T]) Read(sa StateAccess) iter.Seq[T] {
	s, _ := sa.cells()[b.Name].([]T)
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
	s, _ := sa.cells()[b.Name].([]T)
	return len(s)
}

// Clear empties the bag.
func (b BagState[T]) Clear(sa StateAccess) { delete(sa.cells(), b.Name) }

// MapState is a map per key and window.
type MapState[K comparable, V any] struct{ Name string }

func (m MapState[K, V]) get(sa StateAccess, create bool) map[K]V {
	c := sa.cells()
	x, _ := c[m.Name].(map[K]V)
	if x == nil && create {
		engine.RegisterGob[map[K]V]()
		x = map[K]V{}
		c[m.Name] = x
	}
	return x
}

// Put stores v under k.
func (m MapState[K, V]) Put(sa StateAccess, k K, v V) { m.get(sa, true)[k] = v }

// Get returns the value under k.
func (m MapState[K, V]) Get(sa StateAccess, k K) (V, bool) {
	v, ok := m.get(sa, false)[k]
	return v, ok
}

// Delete removes k.
func (m MapState[K, V]) Delete(sa StateAccess, k K) { delete(m.get(sa, false), k) }

// All iterates over the entries (in no particular order).
func (m MapState[K, V]) All(sa StateAccess) iter.Seq2[K, V] {
	return maps.All(maps.Clone(m.get(sa, false)))
}

// Clear empties the map.
func (m MapState[K, V]) Clear(sa StateAccess) { delete(sa.cells(), m.Name) }

// CombiningState folds added values with a Combiner per key and window.
type CombiningState[In, Acc, Out any] struct {
	Name     string
	Combiner Combiner[In, Acc, Out]
}

// Add folds in x.
func (c CombiningState[In, Acc, Out]) Add(sa StateAccess, x In) {
	cells := sa.cells()
	acc, ok := cells[c.Name].(Acc)
	if !ok {
		engine.RegisterGob[Acc]()
		acc = c.Combiner.CreateAccumulator()
	}
	cells[c.Name] = c.Combiner.AddInput(acc, x)
}

// Read returns the combined output (of an empty accumulator when nothing was added).
func (c CombiningState[In, Acc, Out]) Read(sa StateAccess) Out {
	acc, ok := sa.cells()[c.Name].(Acc)
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
