// Package iotest is kappa's connector conformance suite: one set of checks that every pipeline.Source must pass,
// whatever it reads (Kafka partitions, Kinesis shards, Parquet row groups, an in-memory feed). It plays the role
// of testing/fstest.TestFS for file systems, watermill's tests.TestPubSub and benthos's integration.StreamTests.
//
// # Using it
//
// A connector's tests give TestSource a Harness: the Features the connector supports and a Setup function that
// creates a fresh, empty location (a topic, a stream, a folder) with n splits and returns an Env, through which
// the suite appends Records and builds sources over the location:
//
//	func TestConformance(t *testing.T) {
//		iotest.TestSource(t, iotest.Harness{
//			Features: iotest.Features{BadRecords: true, NewSplits: true},
//			Setup: func(t *testing.T, splits int) iotest.Env {
//				feed := pipelinetest.NewFeed[iotest.Record]()
//				… // create the splits
//				return &feedEnv{feed: feed}
//			},
//		})
//	}
//
// The source must decode what Env.Append wrote back into the same Records, with Record.Time as the event time,
// and report undecodable records (Env.AppendBad) in Batch.Failures. A bounded source (Features.Bounded) is
// created after all records are appended and Env.End has finished the location; an unbounded one is read while
// records are appended. Embed Unsupported in an Env for the optional methods the connector does not support.
//
// # Checks
//
// Each check is a subtest of the test that calls TestSource. Through the Source and SplitReader interfaces:
//
//   - OrderPerSplit: the records appended to each split come back from one source split, in append order, each
//     exactly once.
//   - Restart: a reader is stopped after 0, 1, 3, 5, 7 and all of 12 records (at batch boundaries and inside a
//     batch the connector fetched), and a reader of a new source instance opened at its Position reads the rest:
//     no gap, no duplicate. An unbounded split resumed at its end reads what is appended later.
//   - Limits: no batch holds more than Limits.MaxRecords records, or more than one with Limits.MaxBytes 1; a read
//     of an empty unbounded split returns within Limits.MaxWait (plus Features.MaxWaitSlack).
//   - EventTimes: Batch.Times holds each record's Time, however disordered.
//   - EndOfInput: a bounded split returns pipeline.ErrEndOfInput after its last record and on every later call;
//     an unbounded split never does, even when empty; the same after a restart at the final positions.
//   - BadRecords: an undecodable record becomes one *pipeline.RecordError with the source's Name and the
//     Location the harness expects; the records after it are read; a restart does not report it again.
//   - Sink (Features.Sink): two shard writers write over epochs as the runner drives them (Write with slices
//     reused after the call, Prepare, Commit twice, a crash between Prepare and Commit recovered by committing
//     the token from a new writer); the source reads back every committed record exactly once. With
//     Features.ExactlyOnceSink, a replayed epoch whose token was lost and a writer closed before Prepare leave
//     no trace.
//
// Every ReadBatch call is also checked on its own: Times parallel to Values and equal to the records' times, no
// record older than a Batch.Watermark the split stated before, no error but ErrEndOfInput, failures with Source
// and Location, and for unbounded sources no call longer than MaxWait plus the slack.
//
// Through the local runner (group "Runner"), in stream mode:
//
//   - IdleSplitWatermark: with pipeline.IdleTimeout, one split receiving records and one staying empty, the
//     watermark follows the active split: fixed windows fire while it runs, exactly as far as its records reach.
//   - DeadLetters: pipeline.ReadWithDeadLetters routes the bad record to the dead-letter collection while every
//     good record flows.
//   - BadRecordFailsRun: plain pipeline.Read fails the run with the *pipeline.RecordError naming the location.
//   - NewSplits: a split added while a stream runs is discovered and read.
//   - StreamEqualsBatch: W1-shaped records (internal/w1) read in stream mode with random micro-batch sizes give
//     exactly the on-time window sums of a batch run over the same records in memory.
//
// The checks use small record counts and short waits: a connector against a local test peer passes in seconds.
// They run one after another on fresh locations; the runner checks use the real clock with short intervals.
package iotest
