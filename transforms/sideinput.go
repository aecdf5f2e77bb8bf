package transforms

import (
	"context"
	"fmt"
	"iter"

	"github.com/kappaflow/kappa/internal/engine"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/windowing"
)

// Side inputs (Beam's AsSingleton, AsIter, AsMap, AsMultiMap): a view of a collection that a ParDoWithSide reads,
// for each main element, as of the element's window. The main window maps to one window of the side collection:
// the side window that contains the main window's last timestamp (the global window when the side collection is
// globally windowed). When a side window's data is available is what batch and stream mode differ in:
//
//   - Batch mode: a main element waits until the side input's watermark has passed the end of its side window, so
//     it sees the complete window — Beam's batch semantics. A side input read from a bounded source that has ended
//     is complete (its watermark is +inf), so a lookup file read once never delays the main input after it ends.
//   - Stream mode: a main element waits only until its side window has any data (or the side watermark has passed
//     the window's end: the window is complete, possibly empty) and then sees the side window as it is at the end
//     of the micro-batch it is processed in — every side element that reached the transform up to that
//     micro-batch, the main elements of a micro-batch being processed after its side elements. Side data that
//     arrives later updates the view for the main elements processed later; nothing already emitted is revised.
//
// Within a side window every view keeps the latest pane: an element of a higher pane index (Pane.Index, a
// grouping's successive firings) supersedes what came from lower ones, an element of a lower index than what the
// view holds is stale and ignored, and among elements of the same pane the last to arrive is the latest. For
// AsSingleton and AsIter the pane index is the window's; for AsMap and AsMultiMap it is each key's, as groupings
// count panes per key. Elements that did not come out of a grouping all have pane index 0: an AsMap of a changelog
// (a compacted topic) keeps the last value read per key, and an AsSingleton of a stream of configurations keeps the
// last one.
//
// Main elements that wait are held by the transform and hold back the watermark downstream, so what they emit is
// not late; they and the side inputs' contents are in checkpoints. docs/sideinputs.md has the details.

// View is a side input: a collection a ParDoWithSide reads per window. AsSingleton, AsIter, AsMap, AsMultiMap and
// AsTable make them; read one inside the DoFn through its typed accessor, with the Side the DoFn was given.
type View interface {
	viewDef() *viewDef
}

type viewDef struct {
	col       pipeline.Input
	kind      string
	side      engine.SideInput
	snapshots bool // the contents are snapshotContents (the Snapshots option)
}

func newView[T any](s pipeline.Scope, kind string, col pipeline.PCollection[T], newContents func() engine.SideContents[T]) *viewDef {
	if !col.Valid() {
		s.Errorf("%s: invalid collection", kind)
		return nil
	}
	st := windowing.Of(col)
	if st.Merging() {
		s.Errorf("%s: %s is windowed in sessions, which a side input cannot be: its windows are not known in advance", kind, col)
		return nil
	}
	return &viewDef{col: col, kind: kind, side: engine.NewSideInput[T](kind, st, newContents)}
}

// Side gives a DoFn with side inputs the contents of its views for the element being processed: read them through
// the views (`rates.Lookup(side, "EUR")`). It is valid during the ProcessElement call it was given to.
type Side struct {
	vals *engine.SideValues
	defs []*viewDef
}

func (s Side) contents(d *viewDef) any {
	for i, x := range s.defs {
		if x == d && d != nil {
			v := s.vals.View(i)
			if d.snapshots { // the current snapshot's contents
				if sc, ok := v.(interface{ sideContents() any }); ok {
					return sc.sideContents()
				}
			}
			return v
		}
	}
	if s.vals != nil {
		kind := "a zero View"
		if d != nil {
			kind = d.kind + " of " + d.col.Collection().String()
		}
		s.vals.Fail(fmt.Errorf("the DoFn reads side input %s, which was not passed to this ParDoWithSide", kind))
	}
	return nil
}

// SingletonView is an AsSingleton view: one value per window.
type SingletonView[T any] struct{ d *viewDef }

// AsSingleton views col as a single value per window: the latest element of the window's latest pane. Beam
// fails when a window holds several elements; kappa keeps the latest, so a stream of configuration values is a
// singleton view of the current one.
func AsSingleton[T any](s pipeline.Scope, col pipeline.PCollection[T]) SingletonView[T] {
	return SingletonView[T]{d: newView(s, "AsSingleton", col, func() engine.SideContents[T] { return &engine.SingletonContents[T]{} })}
}

func (v SingletonView[T]) viewDef() *viewDef { return v.d }

// Get returns the value for the element being processed, and false when its side window has no element (Beam's
// AsSingleton without a default fails there; return an error from the DoFn to do the same).
func (v SingletonView[T]) Get(side Side) (T, bool) {
	c, _ := side.contents(v.d).(*engine.SingletonContents[T])
	return c.Value()
}

// IterView is an AsIter view: the elements of a window.
type IterView[T any] struct{ d *viewDef }

// AsIter views col as the values of each window's latest pane, in arrival order.
func AsIter[T any](s pipeline.Scope, col pipeline.PCollection[T]) IterView[T] {
	return IterView[T]{d: newView(s, "AsIter", col, func() engine.SideContents[T] { return &engine.IterContents[T]{} })}
}

func (v IterView[T]) viewDef() *viewDef { return v.d }

// Get returns the values for the element being processed.
func (v IterView[T]) Get(side Side) iter.Seq[T] {
	c, _ := side.contents(v.d).(*engine.IterContents[T])
	return c.All()
}

// Len returns the number of values for the element being processed.
func (v IterView[T]) Len(side Side) int {
	c, _ := side.contents(v.d).(*engine.IterContents[T])
	return c.Len()
}

// MapView is an AsMap view: a map per window.
type MapView[K comparable, V any] struct{ d *viewDef }

// AsMap views a keyed collection as a map per window: each key's value from its latest pane (the last to arrive
// within a pane). Beam fails on a key with several values; kappa keeps the latest, so a changelog read as AsMap is
// the table of its latest values (deletions are not modelled: use AsTable for a changelog with tombstones). With
// Snapshots, a higher pane index replaces the whole map (for snapshots of a table, such as io/refresh emits).
func AsMap[K comparable, V any](s pipeline.Scope, col pipeline.PCollection[KV[K, V]], opts ...ViewOption) MapView[K, V] {
	o := applyViewOptions(opts)
	return MapView[K, V]{d: o.mark(newView(s, "AsMap", col, withSnapshots(o, func() engine.SideContents[KV[K, V]] { return &engine.MapContents[K, V]{} })))}
}

func (v MapView[K, V]) viewDef() *viewDef { return v.d }

// Lookup returns the value of k for the element being processed.
func (v MapView[K, V]) Lookup(side Side, k K) (V, bool) {
	c, _ := side.contents(v.d).(*engine.MapContents[K, V])
	return c.Get(k)
}

// All iterates over the map for the element being processed, in no particular order.
func (v MapView[K, V]) All(side Side) iter.Seq2[K, V] {
	c, _ := side.contents(v.d).(*engine.MapContents[K, V])
	return c.All()
}

// Len returns the number of keys for the element being processed.
func (v MapView[K, V]) Len(side Side) int {
	c, _ := side.contents(v.d).(*engine.MapContents[K, V])
	return c.Len()
}

// MultiMapView is an AsMultiMap view: a multimap per window.
type MultiMapView[K comparable, V any] struct{ d *viewDef }

// AsMultiMap views a keyed collection as a multimap per window: each key's values from its latest pane, in
// arrival order. With Snapshots, a higher pane index replaces the whole multimap.
func AsMultiMap[K comparable, V any](s pipeline.Scope, col pipeline.PCollection[KV[K, V]], opts ...ViewOption) MultiMapView[K, V] {
	o := applyViewOptions(opts)
	return MultiMapView[K, V]{d: o.mark(newView(s, "AsMultiMap", col, withSnapshots(o, func() engine.SideContents[KV[K, V]] { return &engine.MultiMapContents[K, V]{} })))}
}

func (v MultiMapView[K, V]) viewDef() *viewDef { return v.d }

// Lookup returns the values of k for the element being processed (shared with the view: do not modify them).
func (v MultiMapView[K, V]) Lookup(side Side, k K) []V {
	c, _ := side.contents(v.d).(*engine.MultiMapContents[K, V])
	return c.Get(k)
}

// Keys iterates over the keys for the element being processed, in no particular order.
func (v MultiMapView[K, V]) Keys(side Side) iter.Seq[K] {
	c, _ := side.contents(v.d).(*engine.MultiMapContents[K, V])
	return c.Keys()
}

// SideDoFn is a DoFn that reads side inputs. Like DoFn it may implement PerWorker, Setup and Teardown.
type SideDoFn[In, Out any] interface {
	ProcessElement(ctx context.Context, e pipeline.Element[In], side Side, emit Emitter[Out]) error
}

// SideDoFunc adapts a function to a SideDoFn.
type SideDoFunc[In, Out any] func(ctx context.Context, e pipeline.Element[In], side Side, emit Emitter[Out]) error

// ProcessElement calls f.
func (f SideDoFunc[In, Out]) ProcessElement(ctx context.Context, e pipeline.Element[In], side Side, emit Emitter[Out]) error {
	return f(ctx, e, side, emit)
}

// ParDoWithSide applies a DoFn that reads the given side inputs to every element of col (see View for when a
// side window is ready and what the DoFn sees). The output keeps each element's timestamp, window and pane unless
// the DoFn emits elements of its own.
func ParDoWithSide[In, Out any](s pipeline.Scope, col pipeline.PCollection[In], fn SideDoFn[In, Out], views ...View) pipeline.PCollection[Out] {
	return parDoWithSide(s, "ParDoWithSide", col, fn, views)
}

// MapWithSide applies fn, which reads the given side inputs, to every element.
func MapWithSide[In, Out any](s pipeline.Scope, col pipeline.PCollection[In], fn func(v In, side Side) Out, views ...View) pipeline.PCollection[Out] {
	if fn == nil {
		s.Errorf("MapWithSide: nil function")
		return pipeline.PCollection[Out]{}
	}
	return parDoWithSide(s, "MapWithSide", col, SideDoFunc[In, Out](func(_ context.Context, e pipeline.Element[In], side Side, emit Emitter[Out]) error {
		emit.Emit(fn(e.Value, side))
		return nil
	}), views)
}

func parDoWithSide[In, Out any](s pipeline.Scope, name string, col pipeline.PCollection[In], fn SideDoFn[In, Out], views []View) pipeline.PCollection[Out] {
	if fn == nil {
		s.Errorf("%s: nil DoFn", name)
		return pipeline.PCollection[Out]{}
	}
	if len(views) == 0 {
		s.Errorf("%s: no side inputs (use ParDo)", name)
		return pipeline.PCollection[Out]{}
	}
	inputs := []pipeline.Input{col}
	var defs []*viewDef
	var sides []engine.SideInput
	for i, v := range views {
		var d *viewDef
		if v != nil {
			d = v.viewDef()
		}
		if d == nil {
			s.Errorf("%s: side input %d is not a valid view (made by AsSingleton, AsIter, AsMap, AsMultiMap or AsTable)", name, i)
			return pipeline.PCollection[Out]{}
		}
		defs = append(defs, d)
		sides = append(sides, d.side)
		inputs = append(inputs, d.col)
	}
	op, err := engine.NewSideParDo(engine.SideParDoSpec[In]{Kind: name, Strategy: windowing.Of(col), Sides: sides, Fn: fn,
		Bind: func(v any) (engine.SideProcessFunc[In], error) {
			fn, ok := v.(SideDoFn[In, Out])
			if !ok {
				return nil, fmt.Errorf("NewWorker returned %T, not a SideDoFn[%s, %s]", v, describe[In](), describe[Out]())
			}
			return func(ctx context.Context, e pipeline.Element[In], sv *engine.SideValues, outs []engine.EmitterBase) error {
				return fn.ProcessElement(ctx, e, Side{vals: sv, defs: defs}, outs[0].(*engine.Emitter[Out]))
			}, nil
		},
		Outputs: []func(any) (engine.EmitterBase, error){engine.NewEmitter[Out]},
	})
	if err != nil {
		s.Errorf("%s: %w", name, err)
		return pipeline.PCollection[Out]{}
	}
	t := addTransform(s, name, op, inputs...)
	out := pipeline.AddOutput[Out](s, t)
	materialize(out.Collection(), col, false)
	return out
}
