// Package generate is a source of generated elements — Beam's GenerateSequence, Flink's DataGen — for demos,
// tests, benchmarks and load generation: element i (i = 0, 1, 2, …) is whatever Config.Func returns for i, with
// the event time it returns.
//
//	events := generate.Read(s, generate.Config[Event]{
//		Count:          1_000_000,       // or Unbounded: true
//		Rate:           50_000,          // elements per second over all splits; 0: as fast as possible
//		Splits:         8,               // read in parallel
//		OutOfOrderness: 2 * time.Second, // Func's event times are at most this far out of order
//		Func: func(i int64) (Event, pipeline.Time) {
//			e := Event{User: fmt.Sprintf("user-%d", i%100), Value: i}
//			return e, start.Add(time.Duration(i) * time.Millisecond)
//		},
//	})
//
// # Splits and positions
//
// Split j of k generates the indices j, j+k, j+2k, … so that all splits move through the index range, and
// through event time, together, like the partitions of a topic. A split's position is the next index it
// generates: a run restored from a checkpoint continues where it stopped, with nothing generated twice. Split
// IDs ("3/8") include the split count, so change Splits only between runs that do not restore each other's
// checkpoints.
//
// # Watermark
//
// Config.OutOfOrderness is a promise about Func: no element's event time is more than OutOfOrderness older than
// the newest event time of the elements with smaller indices. The source hands it to the runner as a guarantee
// (pipeline.Batch.Watermark: the newest event time a split generated minus OutOfOrderness), so that batch runs
// fire each window, complete, as generation moves past it and keep only the windows in flight; stream runs use
// it too, and Read also sets the same bound on the runner's watermark estimate (pipeline.OutOfOrderness). A Func
// that breaks the promise makes elements late: they are counted and dropped as any late data. A negative
// OutOfOrderness promises nothing: batch runs then hold every window until the input ends, and stream runs rely
// on the pipeline.OutOfOrderness option alone.
//
// # Rate
//
// With Config.Rate, the splits together generate Rate elements per second from the moment each split is first
// read (a split gets Rate/Splits); a read waits at most pipeline.Limits.MaxWait for its next element. Without
// Rate, a read generates a full micro-batch at once. For live-looking data, let Func stamp elements with the
// clock (pipeline.TimeOf(time.Now())) and set a Rate. An Unbounded generator never ends: run it in stream mode
// and stop it by cancelling the run's context.
package generate
