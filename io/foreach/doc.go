// Package foreach is a sink that hands a pipeline's output to your own code: a function called for every element
// (Write, WriteElements), or per-shard callbacks with a flush at the end of every epoch (WriteShards), so that
// printing results, updating a dashboard or calling an API takes a few lines instead of a pipeline.Sink.
//
//	foreach.Write(s, counts, func(ctx context.Context, c URLCount) error {
//		fmt.Println(c.URL, c.Minute, c.Views)
//		return nil
//	})
//
// # Guarantees: at least once
//
// A foreach sink is at-least-once. Without checkpoints, a failed run that is started again processes its input
// again, and calls the function again for every element. With checkpoints (local.Config.Checkpoints), a run
// restored after a crash replays the epochs after the last checkpoint: the elements of those epochs — and, at
// worst, of one epoch whose Flush already ran — reach the callbacks a second time. Make the callbacks idempotent
// (an upsert keyed by the element's key and window, a PUT rather than a POST) when duplicates matter: the output is
// then effectively exactly-once. For transactional exactly-once output implement pipeline.Sink (its Prepare/Commit
// protocol) or use a connector that does (parquetio, kafkaio with a transactional ID).
//
// # Shards, concurrency and epochs
//
// The runner writes through one shard per worker. Write and WriteElements call one function from every shard
// concurrently: it must be safe for concurrent use. WriteShards calls open once per shard when the run starts and
// then that shard's callbacks, never two at once for one shard, so per-shard state needs no lock. Elements reach
// the callbacks at the end of each micro-batch, in the order the shard received them; Shard.Flush runs when an
// epoch ends (every local.Config.EpochInterval in stream mode, once at the end of a batch run), after the epoch's
// last element and before the runner checkpoints, so that buffered output is out before the input is
// acknowledged. An error from a callback fails the run, naming the sink and the shard.
package foreach
