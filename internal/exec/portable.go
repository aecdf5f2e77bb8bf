package exec

import (
	"context"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/kappaflow/kappa/pipeline"
)

// Portable descriptions: what a runner other than runners/local (runners/beam) needs to know about kappa's
// operators. A portable runner runs fused chains of element-wise operators itself (through ElementOp, as the local
// runner does) and hands every keyed operator to its engine's shuffle, so at each stage boundary it needs the keyed
// operator's window strategy, its key and value encodings and a byte-level view of its aggregation. Everything here
// mentions only standard and pipeline types, so the operators implement it without importing a runner.

// Meta is the timestamp, window and pane of an element crossing a stage boundary.
type Meta struct {
	Time   pipeline.Time
	Window pipeline.Window
	Pane   pipeline.Pane
}

// EmitKV receives one encoded element of a keyed collection: the key's deterministic encoding, the value's
// encoding, and the element's metadata. The slices are only valid during the call.
type EmitKV func(key, value []byte, m Meta) error

// Codec is implemented by a collection's type information (pipeline.Collection.Type()): it turns elements of the
// collection's type into bytes and back with a coder of that type (pipeline.Collection.Coder()).
type Codec interface {
	// NewEncoder returns a Pusher of the element type that encodes each value with coder and calls emit (with a
	// nil key).
	NewEncoder(coder any, emit func(key []byte, e pipeline.Element[[]byte]) error) (any, error)
	// NewDecoder returns a function that decodes a value with coder and pushes it, with its metadata, into out (a
	// Pusher of the element type).
	NewDecoder(coder any, out any) (func(e pipeline.Element[[]byte]) error, error)
}

// WindowIntoOp is implemented by the operator of windowing.Into: it exposes the strategy it sets.
type WindowIntoOp interface {
	// IntoStrategy returns the *windowing.Strategy the operator's output has.
	IntoStrategy() any
}

// PreCombiner pre-combines the input of a lifted grouping inside a fused stage: it is a Pusher of the grouping's
// input type that keeps one partial accumulator per window (or slice of sliding windows) and key, and hands them,
// encoded, to its EmitKV when flushed. The metadata of an emitted partial is the window (or slice) and the earliest
// timestamp folded into it.
type PreCombiner interface {
	// Flush emits every partial accumulator and forgets them.
	Flush() error
	// Partials is the number of partial accumulators held.
	Partials() int
}

// ByteCombiner is a keyed operator's aggregation over encoded accumulators, for an engine that combines bytes
// (Beam's CombinePerKey with a []byte accumulator).
type ByteCombiner interface {
	// CreateAccumulator returns the encoding of an empty accumulator.
	CreateAccumulator() ([]byte, error)
	// MergeAccumulators merges encoded accumulators into one.
	MergeAccumulators(accs ...[]byte) ([]byte, error)
}

// GroupOp is the portable description of a keyed, windowed reduction (GroupByKey, CombinePerKey, Combine,
// CoGroupByKey): a grouping of KV[K, V] into KV[K, O] per key and window.
type GroupOp interface {
	// GroupKind names the transform kind ("GroupByKey", "CombinePerKey", …).
	GroupKind() string
	// InputStrategy returns the input's *windowing.Strategy.
	InputStrategy() any
	// Lifted reports whether values may be pre-combined before the shuffle (combiners).
	Lifted() bool
	// HasLateOutput reports whether the grouping has a late-data output (transforms.LateDataTo).
	HasLateOutput() bool
	// KeyType and ValueType name K and V, for errors.
	KeyType() string
	ValueType() string
	// CheckCoders builds the key coder (deterministic) and the value or accumulator coder, and reports a type
	// that cannot be encoded.
	CheckCoders() error
	// NewInputEncoder returns a Pusher of KV[K, V] that encodes each element's key and value (unlifted groupings)
	// or a one-element accumulator (lifted ones) and calls emit.
	NewInputEncoder(emit EmitKV) (any, error)
	// NewPreCombiner returns a Pusher of KV[K, V] that is also a PreCombiner emitting encoded keys and partial
	// accumulators; it fails for groupings that are not lifted.
	NewPreCombiner(emit EmitKV) (any, error)
	// ByteCombiner returns the aggregation over encoded accumulators (lifted groupings).
	ByteCombiner() (ByteCombiner, error)
	// NewGroupedOutput returns a function that decodes a key and its grouped encoded values — for lifted
	// groupings, partial accumulators — aggregates them and pushes KV[K, O], with m, into out (a Pusher of
	// KV[K, O]).
	NewGroupedOutput(out any) (func(key []byte, values iter.Seq[[]byte], m Meta) error, error)
	// NewCombinedOutput returns a function that decodes a key and its final encoded accumulator (lifted
	// groupings), extracts the output and pushes KV[K, O], with m, into out.
	NewCombinedOutput(out any) (func(key, acc []byte, m Meta) error, error)
}

// TimerChange sets or clears a timer of a stateful ParDo, as its DoFn asked while processing an element or a
// timer.
type TimerChange struct {
	Name string
	// ProcessingTime selects the processing-time domain (else event time).
	ProcessingTime bool
	// Time is the event time of an event-time timer; PT the clock time of a processing-time one.
	Time  pipeline.Time
	PT    time.Time
	Clear bool
	// Output, when HasOutput is set, is the output timestamp of an event-time timer: the watermark hold until it
	// fires (engine.TimerSpec.Output).
	Output    pipeline.Time
	HasOutput bool
}

// StateIO carries the state of one key and window into a portable stateful call and back.
type StateIO struct {
	// Cells is the encoded state (nil: none); the call replaces it when it changed the state (Changed).
	Cells   []byte
	Changed bool
	// Timers lists the timers set or cleared by the call, in order.
	Timers []TimerChange
	// Watermark is what StateContext.Watermark reports (MinTime where the engine does not expose it).
	Watermark pipeline.Time
	// Now is the processing time.
	Now time.Time
}

// FiredTimer describes a timer that fired, to a portable stateful call.
type FiredTimer struct {
	Name           string
	ProcessingTime bool
	Time           pipeline.Time
	PT             time.Time
}

// PortableStateful runs a stateful DoFn over encoded keys, values and state, pushing its outputs into the Pusher
// it was created with.
type PortableStateful interface {
	// Process runs the DoFn on one encoded element of the key.
	Process(ctx context.Context, key, value []byte, m Meta, st *StateIO) error
	// OnTimer runs the DoFn's timer callback; m holds the timer's window, and the output timestamp.
	OnTimer(ctx context.Context, key []byte, t FiredTimer, m Meta, st *StateIO) error
}

// StatefulOp is the portable description of a stateful ParDo over KV[K, V].
type StatefulOp interface {
	// InputStrategy returns the input's *windowing.Strategy.
	InputStrategy() any
	// KeyType names K, for errors.
	KeyType() string
	// CheckCoders builds the key and value coders and reports a type that cannot be encoded.
	CheckCoders() error
	// NewInputEncoder returns a Pusher of KV[K, V] that encodes keys and values and calls emit.
	NewInputEncoder(emit EmitKV) (any, error)
	// NewPortable returns the DoFn runner for one worker; out is a Pusher of the output type.
	NewPortable(w *Worker, out any) (PortableStateful, error)
}

// ScriptStep is one step of a scripted test stream (pipelinetest/teststream), with its elements encoded by the
// stream's element coder.
type ScriptStep struct {
	// Elements, when not nil, arrive with their event times.
	Elements []pipeline.Element[[]byte]
	// Watermark, when not MinTime, is the new watermark (MaxTime: end of event time).
	Watermark pipeline.Time
	// Advance is a processing-time advance.
	Advance time.Duration
}

// ScriptedSource is implemented by the operator of a scripted test stream's source.
type ScriptedSource interface {
	// Script returns the steps, elements encoded.
	Script() ([]ScriptStep, error)
	// NewDecoder returns a function decoding an element and pushing it into out (a Pusher of the element type).
	NewDecoder(out any) (func(e pipeline.Element[[]byte]) error, error)
}

// BundleSink is implemented by sinks (the pipeline.Sink values) that keep their delivery guarantee when their
// writers are prepared and committed at the end of every bundle of a portable engine (runners/beam) instead of
// kappa's checkpoint epochs: their Prepare ignores the epoch's ID, watermark and Final flag, and committing a
// token twice is harmless. pipelinetest.Result (exactly-once) and io/foreach's Write (at-least-once) are.
type BundleSink interface {
	BundleSafe() bool
}

// ProcessLocalSource is implemented by sources of which each process running the job reads only a share, handed
// out by a system outside kappa (Kafka consumer groups): the keyed state of one process then covers only the keys
// of its share, and moves with no partition, so keyed results and windows are per process.
type ProcessLocalSource interface {
	// ProcessLocal reports whether this process reads only a share of the source, and whether the user accepted
	// per-process results for keyed and windowed transforms.
	ProcessLocal() (local, accepted bool)
}

// CheckProcessLocal refuses a pipeline that groups or windows the data of a process-local source (Kafka consumer
// groups) unless the source accepted per-process results, naming the source and the transform and pointing to
// runners/beam, which moves keyed state between machines.
func CheckProcessLocal(p *pipeline.Pipeline) error {
	var errs []string
	for _, t := range p.Transforms() {
		op, ok := t.Op().(SourceOp)
		if !ok {
			continue
		}
		s, ok := op.(interface{ Source() any })
		if !ok {
			continue
		}
		pl, ok := s.Source().(ProcessLocalSource)
		if !ok {
			continue
		}
		if local, accepted := pl.ProcessLocal(); !local || accepted {
			continue
		}
		if d := keyedOrWindowedDownstream(t); d != nil {
			errs = append(errs, fmt.Sprintf("%s reads %s in consumer-group mode, where each process reads only the partitions the group gives it and keeps the keyed state of those alone, but %s downstream groups or windows by key: its results would be per process and wrong across a rebalance. Run the job on runners/beam (Flink, Spark, Dataflow), which moves keyed state between machines; or read every partition in one process (no group); or accept per-process results explicitly (kafkaio.ReadConfig.PerProcessResults)",
				t.Name(), op.SourceName(), d.Name()))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("kappa: %s", strings.Join(errs, "; "))
	}
	return nil
}

// keyedOrWindowedDownstream returns the first keyed or windowing transform reachable from t, or nil.
func keyedOrWindowedDownstream(t *pipeline.Transform) *pipeline.Transform {
	seen := map[*pipeline.Transform]bool{}
	var walk func(t *pipeline.Transform) *pipeline.Transform
	walk = func(t *pipeline.Transform) *pipeline.Transform {
		for _, c := range t.Outputs() {
			for _, ct := range c.Consumers() {
				if seen[ct] {
					continue
				}
				seen[ct] = true
				switch ct.Op().(type) {
				case KeyedOp, WindowIntoOp:
					return ct
				}
				if d := walk(ct); d != nil {
					return d
				}
			}
		}
		return nil
	}
	return walk(t)
}

// SideOp is the portable description of a ParDo with side inputs (transforms.ParDoWithSide, MapWithSide): input 0
// is the main input, input i+1 side input i. A portable engine brings every main element together with the side
// elements of the side windows it maps to, and the operator builds the views from them (SideKinds).
type SideOp interface {
	// MainStrategy returns the main input's *windowing.Strategy.
	MainStrategy() any
	// SideStrategies returns each side input's *windowing.Strategy.
	SideStrategies() []any
	// SideKinds names each side input's view kind ("AsMap", …).
	SideKinds() []string
	// MapWindow returns the window of side input i that main window w maps to.
	MapWindow(i int, w pipeline.Window) pipeline.Window
	// NewPortable returns the DoFn runner for one worker; outs[i] is a Pusher of output i's type.
	NewPortable(w *Worker, outs []any) (PortableSide, error)
}

// PortableSide runs a DoFn with side inputs on one worker of a portable engine, which builds the views of each
// main window from the side elements it gives it. Its Lifecycle calls the DoFn's Setup and Teardown.
type PortableSide interface {
	Lifecycle
	// Main returns a Pusher of the main input's element type: each element pushed is processed at once with the
	// views of the last SetViews.
	Main() any
	// SetViews sets the contents of each side input's window (built with NewViewBuilder; nil: an empty window)
	// for the main elements pushed next.
	SetViews(views []any)
	// NewViewBuilder returns, for side input i, a Pusher of its element type that applies side elements to the
	// contents being built (the view's latest-pane rule: push them in arrival order, with their panes), and
	// take, which returns the contents built (nil when nothing was pushed) and starts new ones.
	NewViewBuilder(i int) (fill any, take func() any, err error)
}
