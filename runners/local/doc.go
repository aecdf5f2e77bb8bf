// Package local runs kappa pipelines in this process, in micro-batches, on all cores.
//
//	r := local.New(local.Config{})          // batch mode, one worker per core
//	if err := r.Run(ctx, p); err != nil { … }
//	fmt.Println(r.Stats().Records)
//
// # Execution
//
// Each micro-batch reads up to Config.BatchRecords records from every active split — so up to BatchRecords times
// the number of splits in all — and pushes them through the fused element-wise stages on the worker owning the split; keyed stages (groupings, combiners) pre-aggregate on
// every worker, shuffle by a hash of the key, then fire what the watermark and triggers make due. Panics in user
// code are recovered and returned as errors naming the transform.
//
// # Batch and stream
//
// In Batch mode (the default) watermarks move only as far as sources guarantee — their Batch.Watermark hints,
// such as a Parquet row group's minimum event time or a generator's out-of-orderness promise — never on
// estimates, and jump to +inf once every source has ended: every window fires once, complete, as the input moves
// past it, and no data is late. A source that guarantees nothing holds its windows until the end. In Stream mode watermarks follow the event times of each split
// (see pipeline.Read's options), windows fire as the input advances, and sinks commit every
// Config.EpochInterval. With bounded inputs whose splits are in event-time order, both modes give the same
// on-time results.
//
// # Checkpoints and memory
//
// With Config.Checkpoints set, every epoch ends with an atomic checkpoint of operator state and source positions
// before sinks commit, and a restarted run resumes from the last one, so output stays exactly-once across
// crashes. Keyed state beyond Config.StateMemory spills to disk (Config.SpillDir), so memory is bounded by
// configuration rather than by input size.
//
// # What a run reports
//
// Runner.Stats counts what was read and what was not processed as usual: Late (records dropped behind the
// allowed lateness, per transform), DeadLettered and Future (per source: records sent to a dead-letter output,
// and records stamped further ahead of processing time than pipeline.MaxFutureSkew or FutureSkewWarning allow),
// Overlapping (session panes that overlap one already emitted), and the panes fired early, on time and late.
// The same counts are Prometheus metrics, appear on the progress line, and end every run in a summary log line —
// at Warn level when anything was dropped, dead-lettered or stamped in the future.
//
// # Status page
//
// With Config.StatusAddr set, the run serves a live, read-only status page and its JSON API (package
// runners/local/status; docs/operations.md): the graph of stages, rates, each split's position, lag and
// watermark, the split holding each watermark back, state and checkpoints. Runner.Status returns the last
// snapshot, Runner.StatusURL the page's address.
package local
