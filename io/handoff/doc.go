// Package handoff reprocesses a Kafka topic from its Parquet archive and continues on Kafka at exactly the next
// offset: the source of the Kappa architecture's "reprocess and switch" upgrade (docs/operations.md, "Reprocess
// and switch").
//
// # The archive
//
// An archive is written by a job that reads the topic as kafkaio.Message values and stores each as one Record
// row — topic, partition, offset, key, value and timestamp — with parquetio's exactly-once sink (Archive adds
// both steps). Every row carries its own coordinates, so every file, row group and folder of the archive
// records exactly which offsets it holds (the kafka_partition and kafka_offset columns and their row-group
// statistics); no side file has to agree with the data. Record headers are not archived.
//
// # The hand-off
//
// NewSource lists the archive, reads only its kafka_partition and kafka_offset columns, and computes per
// partition the cut: the largest archived offset. Its splits are the archive's row groups ("archive/…") and one
// split per Kafka partition ("kafka/3"). A partition's Kafka split lists the archive splits holding that
// partition as its Parents, so the runner opens it only once they have all ended, and it starts at cut+1. Each
// partition switches on its own: partitions whose archives end at different offsets hand off independently.
// Archive row groups are read ArchiveLanes (default 4) at a time: each lists the one ArchiveLanes before it as
// its parent, because the runner opens every ready split of an unbounded source at once. Archive records are
// decoded with the Kafka read's Decode and EventTime, so the two phases give identical
// elements.
//
// Every split's position is in the runner's checkpoint: an archive split's row, whether it has ended, and a
// Kafka split's next offset together with the cut it started from. A job killed anywhere in the hand-off
// resumes each partition in its phase, and reads no record twice and none never. A Kafka split restored with a
// cut that differs from the archive's current one (the archive grew or shrank between runs after that
// partition had switched) is refused with an error naming the partition and both offsets: the archive must not
// change under a running hand-off — point Archive at a closed prefix (folders with _SUCCESS markers).
//
// A partition the archive holds no record of starts at the Kafka read's Start (default Earliest).
//
// # Archives without offsets
//
// An archive written by another tool has no kafka_offset column. With Config.Fallback set, the source reads
// it with that parquetio configuration up to Fallback.Cut in event time, and starts every Kafka partition at
// the first record whose timestamp is at or after Cut minus Fallback.Overlap. Records with event times in
// [Cut−Overlap, Cut) can then be read twice (once from each side), and records the archive missed before
// Cut−Overlap are lost: the hand-off is at-least-once across the seam, and the source logs a warning saying so.
// Without Fallback such an archive is an error naming the file.
package handoff
