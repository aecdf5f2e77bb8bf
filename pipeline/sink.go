package pipeline

import "context"

// Sink is an output for elements of type T. The runner opens one writer per shard (worker); each writer receives
// the elements routed to its shard with their windows and panes.
//
// Writers take part in the runner's epochs: after the last element of an epoch the runner calls Prepare, which
// stages what was written and returns a commit token; the runner stores the tokens in its checkpoint and, once the
// checkpoint is durable, calls Commit with each token. Commit must be idempotent: after a crash the runner calls it
// again with the tokens of the last durable checkpoint, and a replay of the following epochs must replace, not
// duplicate, what a lost epoch staged. A sink that meets this contract gives exactly-once output.
type Sink[T any] interface {
	// Name identifies the sink in logs, metrics and errors.
	Name() string
	// Open opens the writer for one shard.
	Open(ctx context.Context, shard Shard) (SinkWriter[T], error)
}

// Shard identifies one of the writers of a sink.
type Shard struct {
	// Index is the shard number, 0 ≤ Index < Count.
	Index int
	// Count is the number of shards.
	Count int
	// Bundles is true when the runner prepares and commits the writer per bundle of its own rather than per
	// checkpoint epoch (runners/beam): Index is then unique only among the writers of one process and Count is no
	// fixed number of shards, the IDs of Prepare's epochs count this writer's bundles (from 0 for every writer),
	// their Watermark is MinTime and Final false, and a writer never commits the token of another writer's failed
	// bundle. A sink that commits in Beam's bundle finalization (beam.FinalizedSink) names what it stages by
	// something unique to the writer, not by Index and epoch.
	Bundles bool
}

// Epoch describes the end of an epoch to Prepare.
type Epoch struct {
	// ID increases by one with each epoch of a job, across restarts.
	ID uint64
	// Watermark is the input watermark of the sink at the end of the epoch: no element with a window ending at or
	// before it will follow, so sinks may finalise such windows (e.g. write a _SUCCESS marker).
	Watermark Time
	// Final is true for the last epoch of a job whose sources have all ended.
	Final bool
}

// SinkWriter writes one shard of a sink.
type SinkWriter[T any] interface {
	// Write writes elements. The slice is reused by the runner after the call returns.
	Write(ctx context.Context, elems []Element[T]) error
	// Prepare stages everything written since the previous Prepare and returns a token that Commit accepts.
	Prepare(ctx context.Context, epoch Epoch) ([]byte, error)
	// Commit publishes what Prepare staged for the token. It may be called more than once with the same token.
	Commit(ctx context.Context, token []byte) error
	// Close releases the writer; anything not prepared is discarded.
	Close(ctx context.Context) error
}
