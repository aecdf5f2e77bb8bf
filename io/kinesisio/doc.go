// Package kinesisio reads and writes Amazon Kinesis Data Streams (aws-sdk-go-v2), as kappa sources and sinks.
//
// # Reading
//
// Read (or NewSource) reads a stream as an unbounded collection. Each shard is a split with its own watermark;
// a child shard created by resharding lists its parents, and the runner opens it only after its parents have
// ended, so the records of a partition key stay in order across a split or merge. The shards are re-listed
// (ListShards) at every discovery, so resharding is picked up while the job runs.
//
//	events := kinesisio.Read(s, kinesisio.ReadConfig[Event]{
//		Stream: "kinesis://events",  // or "events"; endpoint from $KAPPA_KINESIS_ENDPOINT or AWS
//		Start:  kinesisio.TrimHorizon, // or Latest, AtTimestamp with StartTime
//	})
//
// Records are decoded with JSON[T] by default (Raw for []byte); a user Decoder sees the whole Record. Event times
// are the records' arrival times unless EventTime says otherwise. A record that cannot be decoded becomes a
// *pipeline.RecordError located at "shard shardId-000000000001 sequence 4959…", for the dead-letter output of
// ReadWithDeadLetters or as the error that stops the pipeline.
//
// A reader's position, stored in kappa's checkpoints, is the sequence number of the last record it returned; a
// restart continues AFTER_SEQUENCE_NUMBER, with no record lost or repeated. Readers pace their GetRecords calls
// (PollInterval, 5 per second per shard by default, Kinesis's limit), back off when throttled, get a new
// iterator when one expires, and log a warning for each of these; ReadBatch never waits longer than the runner's
// MaxWait.
//
// # Writing
//
// Write (or NewSink) sends elements with PutRecords in batches of up to 500 records and 5 MiB. Records a call
// rejects are retried alone, in order, with backoff. Delivery is at-least-once: Prepare sends and waits, Commit
// does nothing (Kinesis has no transactions).
//
//	kinesisio.Write(s, results, kinesisio.WriteConfig[Row]{
//		Stream:  "results",
//		Encoder: kinesisio.JSONEncoder(func(r Row) string { return r.Key }),
//	})
//
// # Endpoints
//
// Without an endpoint, the AWS SDK's default configuration applies. For an emulator, set Connection.Endpoint,
// an endpoint parameter (kinesis://events?endpoint=http://127.0.0.1:4567) or $KAPPA_KINESIS_ENDPOINT; a loopback
// endpoint needs no credentials. `make kinesis` runs kinesalite on 127.0.0.1:4567. See docs/kinesis.md.
package kinesisio
