// Package beam runs kappa pipelines on Apache Beam's portable runners — Prism (Beam's Go runner, in this process,
// for local runs and tests), Flink, Spark and Dataflow — so that a job that outgrows one machine runs unchanged on
// an existing distributed engine.
//
//	err := beam.New(beam.Config{}).Run(ctx, p) // Prism in this process
//
// Translation. The graph is cut into stages (plan.go): a stage starts at a source split, a scripted test stream,
// a grouping's output, a stateful ParDo or a ParDo with side inputs, and runs every element-wise transform and sink reachable from there in
// one Beam DoFn with kappa's own operators — so only the inputs of keyed transforms are encoded (keys with the
// deterministic coder.KeyOf, values with coder.Of). Windows are assigned by kappa inside stages; before each keyed
// transform Beam's WindowInto applies the same strategy (window function, trigger, accumulation, allowed lateness)
// and Beam's GroupByKey, CombinePerKey (over encoded accumulators, pre-combined per bundle inside the stage: kappa's
// combiner lifting) or a stateful DoFn (state in one value cell per key and window, timers as tagged timer
// families) does the shuffle. Sources are read by split: an impulse lists the splits, a reshuffle spreads them,
// and a DoFn reads each. Unbounded sources with offset positions (OffsetPositions: io/kafkaio) are splittable
// DoFns over each split's offset range, checkpointed and resumed, with the source's kappa watermark estimator
// driving Beam's (stream.go); Config.StopWhenIdle drains a stream. Side inputs are Beam's native side inputs
// (side.go): each view's collection is an iterable side input of the DoFn of the stage starting at the ParDo with
// side inputs, its elements carrying their kappa timestamp and pane, its windows chosen so that Beam's window
// mapping gives kappa's side window; the view of each side window is built on the worker once per bundle.
//
// Workers find the graph through a process-local registry (loopback runs) or rebuild it by calling the Builder
// registered under Config.Builder with Config.Params (a pipeline option), checked by the graph's fingerprint.
//
// Validate lists everything Beam cannot run, before submission. docs/beam.md has the details, the semantic
// differences found against runners/local and how to run on Flink, Spark and Dataflow.
package beam
