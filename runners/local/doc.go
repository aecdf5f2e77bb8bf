// Package local runs kappa pipelines in this process, in micro-batches, on all cores.
//
//	r := local.New(local.Config{})          // batch mode, one worker per core
//	if err := r.Run(ctx, p); err != nil { … }
//	fmt.Println(r.Stats().Records)
//
// # Execution
//
// Each micro-batch reads up to Config.BatchRecords records from every active split and pushes them through the
// fused element-wise stages on the worker owning the split; keyed stages (groupings, combiners) pre-aggregate on
// every worker, shuffle by a hash of the key, then fire what the watermark and triggers make due. Panics in user
// code are recovered and returned as errors naming the transform.
//
// # Batch and stream
//
// In Batch mode (the default) watermarks stay at -inf until every source has ended, then jump to +inf: every
// window fires once, complete, and no data is late. In Stream mode watermarks follow the event times of each split
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
package local
