// Package pipeline is the core vocabulary of kappa: a Pipeline is a graph of transforms over typed collections
// (PCollection[T]) of timestamped, windowed elements, built in named Scopes and run by a runner.
//
//	p := pipeline.New()
//	s := p.Root()
//	lines := pipeline.Read[string](s, source)              // any pipeline.Source[string]
//	words := transforms.FlatMap(s.Scope("wordcount"), lines, strings.Fields)
//	counts := transforms.Count(s.Scope("wordcount"), words)
//	pipeline.Write(s, counts, sink)                         // any pipeline.Sink[transforms.KV[string, int64]]
//	if err := local.New(local.Config{}).Run(ctx, p); err != nil { … }
//
// # Collections and scopes
//
// A PCollection[T] is a small typed handle over a node of the graph: transforms are generic functions from
// collections to collections, so element types are checked by the compiler and no registration is needed.
// Every transform is applied in a Scope and named by the scope's path ("wordcount/Count/CombinePerKey"); the
// path appears in graph dumps (Pipeline.String, Pipeline.Dot), metrics, logs and errors.
//
// # Errors
//
// Building never panics. A transform given a nil function or an invalid collection records a construction error,
// prefixed with its scope path, and returns an invalid collection; later transforms given that collection record
// nothing more. Pipeline.Err returns the errors, joined, and every runner refuses to run a pipeline that has any.
//
// # Time, windows and panes
//
// Event times are Time values, milliseconds since the Unix epoch. Every Element carries its value, time, Window
// and Pane; elements that were never windowed are in GlobalWindow. The windowing package assigns windows; the
// groupings of the transforms package emit one element per key, window and pane, timestamped with the last
// millisecond of the window (Window.MaxTimestamp).
//
// # Sources and sinks
//
// Source and SplitReader are the contract of inputs: splits read in micro-batches (Batch), positions the runner
// checkpoints, and ErrEndOfInput ending bounded splits (the only difference between a batch and a stream source).
// Records a source cannot decode become *RecordError values that go to a dead-letter output (ReadWithDeadLetters)
// or stop the pipeline; so do records stamped further ahead of processing time than MaxFutureSkew allows (without
// it, records more than an hour ahead are counted and logged: see FutureSkewWarning). Sink and SinkWriter are the contract of outputs: writers stage what they wrote in Prepare
// and publish it in Commit, once the runner's checkpoint is durable, which makes output exactly-once.
package pipeline
