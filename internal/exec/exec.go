// Package exec holds the contracts between kappa's operators (defined by the pipeline, transforms, windowing and
// io packages) and its runners. Every method set here mentions only standard and pipeline types, so operators
// implement it without importing this package where that would create a cycle (pipeline's Read and Write do).
package exec

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"github.com/kappaflow/kappa/pipeline"
)

// Pusher receives the elements of a collection of T, one at a time, on one worker.
type Pusher[T any] interface {
	Push(e pipeline.Element[T]) error
}

// BatchPusher is implemented by Pushers that take a chunk of elements at once (see pipeline.PushChunk): fused
// stages call PushBatch instead of Push for each element. The callee may change the chunk's elements in place; the
// caller must not use them after the call.
type BatchPusher[T any] interface {
	Pusher[T]
	PushBatch(es []pipeline.Element[T]) error
}

// PushAll pushes es to p: in one call when p is a BatchPusher, else one element at a time.
func PushAll[T any](p Pusher[T], es []pipeline.Element[T]) error {
	if bp, ok := p.(BatchPusher[T]); ok {
		return bp.PushBatch(es)
	}
	for i := range es {
		if err := p.Push(es[i]); err != nil {
			return err
		}
	}
	return nil
}

// TypeInfo describes a collection's element type to runners (implemented in package pipeline).
type TypeInfo interface {
	TypeName() string
	// NewTee returns a Pusher of T that pushes to each of outs (Pushers of T).
	NewTee(outs []any) (any, error)
	// NewDiscard returns a Pusher of T that drops everything.
	NewDiscard() any
}

// Worker is what an operator instance knows about the worker running it. One goroutine at a time runs a worker's
// instances, so instances need no locking.
type Worker struct {
	// Index is the worker number, 0 ≤ Index < Count.
	Index, Count int
	// Ctx is cancelled when the run stops.
	Ctx context.Context
	// Now returns the processing time (the runner's clock, a fake one in tests).
	Now func() time.Time
	// Logger is the run's logger.
	Logger *slog.Logger
	// Current is the name of the transform whose user code runs, kept up to date by operators so that a panic
	// can be attributed to its transform.
	Current string
	// Late counts elements dropped because they arrived after their window's allowed lateness, per transform.
	Late map[string]int64
	// Overlapping counts, per transform, panes of merging windows (sessions) that overlap a pane already emitted
	// for the same key: sessions that should have merged but whose state was gone, because data arrived further
	// out of order than the source's out-of-orderness bound and the allowed lateness foresaw.
	Overlapping map[string]int64
	// OnPane, when set, is called by groupings for every pane they emit (for latency metrics).
	OnPane func(transform string, w pipeline.Window, p pipeline.Pane)
	// TrackChanges asks keyed consumers to track what changes between snapshots (the run takes checkpoints).
	TrackChanges bool
	// OverBudget, when set, reports whether the heap is over the run's state budget (restores spill as they go).
	OverBudget func() bool
	// NewSpill, when set, opens an on-disk store where a consumer may move state that no longer fits in memory.
	NewSpill func(name string) (SpillStore, error)
}

// SpillStore is an ordered key-value store on local disk (Pebble, in the local runner) holding state that did not
// fit in memory. It is not durable: checkpoints copy what it holds.
type SpillStore interface {
	// Set stores value under key, in the pending batch.
	Set(key, value []byte) error
	// Commit applies the pending batch.
	Commit() error
	// Get returns the value under key (valid until the next call).
	Get(key []byte) ([]byte, bool, error)
	// Scan calls fn, in key order, for every entry whose key starts with prefix; fn must copy what it keeps.
	Scan(prefix []byte, fn func(key, value []byte) error) error
	// ScanRange calls fn, in key order, for every entry with lower ≤ key < upper; fn must copy what it keeps.
	ScanRange(lower, upper []byte, fn func(key, value []byte) error) error
	// MultiGet looks up keys, which must be sorted, with one iterator, and calls fn(i, value) for each keys[i]
	// found; fn must copy what it keeps.
	MultiGet(keys [][]byte, fn func(i int, value []byte) error) error
	// DeletePrefix removes every entry whose key starts with prefix.
	DeletePrefix(prefix []byte) error
	// Delete removes one entry.
	Delete(key []byte) error
}

// Spiller is implemented by consumers that can move their state to a SpillStore.
type Spiller interface {
	// Spill moves in-memory state to disk and returns how many entries it moved.
	Spill() (int, error)
}

// PanicError turns a recovered panic value into an error naming the transform.
func PanicError(transform string, v any) error {
	stack := string(debug.Stack())
	// Keep the frames from the panic on, which is what a user needs to find the bug.
	if i := strings.Index(stack, "panic("); i >= 0 {
		stack = stack[i:]
	}
	if len(stack) > 4000 {
		stack = stack[:4000] + "\n\t…"
	}
	if transform == "" {
		transform = "kappa runner"
	}
	return fmt.Errorf("%s: panic: %v\n%s", transform, v, stack)
}

// ElementOp is a stateless operator with one or more inputs (all of the same type) and any number of outputs:
// Map, FlatMap, Filter, ParDo, WindowInto, Flatten.
type ElementOp interface {
	// Instantiate creates the operator for one worker. outs[i] is a Pusher of output i's element type; the
	// result is a Pusher of the input element type that every input pushes to.
	Instantiate(w *Worker, outs []any) (any, error)
}

// Lifecycle is implemented by operator instances that need setup, per-micro-batch or teardown calls.
type Lifecycle interface {
	// Start is called once on each worker before the first element.
	Start(ctx context.Context) error
	// EndOfBatch is called on each worker after every micro-batch (bundle) has been pushed through it.
	EndOfBatch(ctx context.Context) error
	// Finish is called once on each worker after the last element.
	Finish(ctx context.Context) error
}

// KeyedOp is an operator whose input is shuffled by key between workers: GroupByKey, CombinePerKey,
// CoGroupByKey, stateful ParDo.
type KeyedOp interface {
	NewExchange(workers int) (Exchange, error)
}

// Exchange holds the buffers between the producing side (on every worker) and the consuming side (the worker
// owning a key) of one keyed operator.
type Exchange interface {
	// Instantiate creates worker w's side: a Pusher for each input (partitioning and possibly pre-combining into
	// the exchange) and the consumer of the elements routed to w. outs are Pushers of the outputs.
	Instantiate(w *Worker, outs []any) (inputs []any, c Consumer, err error)
}

// Consumer is the keyed, stateful side of a keyed operator on one worker.
type Consumer interface {
	// Flush moves what this worker's producer side has pre-combined into the exchange. The runner calls it on
	// every worker after each stage run that may have pushed into the producer side.
	Flush() error
	// Process consumes what every producer routed to this worker since the last call.
	Process() error
	// Advance fires what input watermark wm and processing time now make due, emitting downstream, and drops
	// state that can no longer change. It also tells this worker's producer side the new watermark, so that it
	// routes data behind the allowed lateness before pre-combining.
	Advance(wm pipeline.Time, now time.Time) error
}

// Snapshotter is implemented by consumers whose state a checkpoint holds. Snapshot is called between
// micro-batches, when nothing is in flight. It writes all of the state when full is true, else a delta: what
// changed since the previous Snapshot call (entries written again whole, and what went) — or all of the state
// when that is cheaper to track (it then reports wroteFull). Either way the change tracking starts again, so every
// snapshot after the last full one must be kept for a restore. Changes are tracked only when
// Worker.TrackChanges is set.
type Snapshotter interface {
	Snapshot(w io.Writer, full bool) (wroteFull bool, err error)
}

// Restorer is implemented by exchanges whose consumers can be restored: it reads the snapshots written by every
// worker of the checkpointed run (whatever their number) and gives each current consumer the keys it now owns.
// chains[j] holds worker j's snapshots: a full one, then the deltas after it, in order.
type Restorer interface {
	Restore(chains [][]io.Reader) error
}

// StateSize is optionally implemented by consumers to report how many keys/windows they hold.
type StateSize interface {
	StateEntries() int
}

// SourceOp is the operator of pipeline.Read.
type SourceOp interface {
	SourceName() string
	Bounded() bool
	IdleTimeout() time.Duration
	HasDeadLetters() bool
	Splits(ctx context.Context) ([]pipeline.Split, error)
	Acknowledger() pipeline.Acknowledger
	NewWatermarkEstimator() pipeline.WatermarkEstimator
	// Open returns a SplitRunner.
	Open(ctx context.Context, split pipeline.Split, pos []byte) (any, error)
}

// SplitRunner reads one split of a source.
type SplitRunner interface {
	// Read reads one batch and pushes it to out (a Pusher of the source type) and its undecodable records to dlq
	// (a Pusher of *pipeline.RecordError, or nil to fail with the first).
	Read(ctx context.Context, lim pipeline.Limits, out, dlq any) (n int, bytes int64, maxTime, hint pipeline.Time, err error)
	Position() []byte
	Close() error
}

// SinkOp is the operator of pipeline.Write.
type SinkOp interface {
	SinkName() string
	// Open returns a SinkRunner that is also a Pusher of the sink's element type.
	Open(ctx context.Context, shard pipeline.Shard) (any, error)
}

// SinkRunner is one shard of a sink.
type SinkRunner interface {
	Flush(ctx context.Context) error
	Prepare(ctx context.Context, e pipeline.Epoch) ([]byte, error)
	Commit(ctx context.Context, token []byte) error
	Close(ctx context.Context) error
}
