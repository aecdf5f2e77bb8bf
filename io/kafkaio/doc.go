// Package kafkaio reads and writes Kafka topics: a kappa Source with one split per partition and a Sink with one
// producer per shard, at-least-once or exactly-once.
//
//	events := kafkaio.Read(s, kafkaio.ReadConfig[Event]{Brokers: []string{"127.0.0.1:9092"}, Topic: "events"})
//	...
//	kafkaio.Write(s, results, kafkaio.WriteConfig[Result]{Brokers: brokers, Topic: "results",
//		Encode: func(r Result) (kafkaio.Message, error) { ... }})
//
// Configs can also come from URLs: ReadConfigFromURL("kafka://127.0.0.1:9092/events?group=analytics").
//
// # Reading
//
// Each partition is a split (ID: the partition number) read by its own client, which prefetches up to
// ReadConfig.PartitionMaxBytes while the runner processes the previous batch. A split's position is the offset of
// its next record; a reader opened at a position continues exactly there. Without a position a split starts at
// ReadConfig.Start: the earliest record (default), the end, or the first record at or after a time. Every
// Splits call lists the partitions again, so partitions added to the topic are picked up.
//
// Records are read with read_committed isolation: records of aborted transactions and transaction markers are
// never returned (positions move past them), and records after a still-open transaction wait for it to end.
// Topics written by Kafka Streams, Flink or any transactional producer read correctly.
//
// Records are decoded by ReadConfig.Decode (default: the value as []byte or string, the whole Message, or JSON).
// A record it fails on becomes a *pipeline.RecordError with Location "partition P offset O" and the record value
// as Raw: the pipeline routes it to its dead-letter output (ReadWithDeadLetters) or stops with it. Element event
// times are the record timestamps unless ReadConfig.EventTime says otherwise.
//
// # Consumer groups
//
// With ReadConfig.Group set, several processes share the topic's partitions: each reads the partitions the group
// assigns to it, and Ack (called by the runner once a checkpoint is durable) commits the group's offsets for
// the partitions it still owns. A split without a checkpointed position starts at the group's committed offset.
// A partition revoked by a rebalance idles (empty batches; exclude idle splits from the watermark with
// pipeline.IdleTimeout) until it is assigned back; it then resumes at the later of its own position and the
// group's committed offset. Records read after the last Ack of a moved partition are read again by its new
// owner: across rebalances the source is at-least-once.
//
// # Writing
//
// The sink encodes elements with WriteConfig.Encode (default: []byte or string values, Messages as they are,
// JSON), stamps records with the element's event time unless the encoder sets one, partitions them by a murmur2
// hash of the key (like the Java client) unless told otherwise, batches and compresses them, and waits for
// acks from all in-sync replicas, retrying with backoff. Prepare returns once every record is acknowledged.
//
// With WriteConfig.ExactlyOnce, each epoch's records form one Kafka transaction that Prepare flushes and Commit
// commits, so read_committed consumers see each record once even when the job is killed and restarted from its
// checkpoint; docs/kafka.md states the exact guarantee and its conditions.
//
// # Failures
//
// Brokers that do not answer are retried with backoff, each failure logged as a warning (at most one every few
// seconds), for up to the configured Timeout; then an error matching ErrBrokersUnavailable names what was
// attempted (partition, offset, topic) and the last broker failure. A missing topic is an error matching
// ErrUnknownTopic; an offset no longer in the log is an error, never a silent jump.
//
// # Clients
//
// kafkaio speaks Kafka through franz-go's kgo: segmentio/kafka-go, the client first chosen, returns transaction
// markers as data, cannot read committed data only and cannot produce transactionally; and on this project's
// measurements kgo consumed W1 records 5 to 10 times and produced them 2 to 3 times faster. See docs/kafka.md.
package kafkaio
