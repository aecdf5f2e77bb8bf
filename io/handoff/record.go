package handoff

import (
	"time"

	"github.com/kappaflow/kappa/io/kafkaio"
	"github.com/kappaflow/kappa/io/parquetio"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/transforms"
)

// Record is one archived Kafka record: one row of an archive. Its column names are part of the archive format.
type Record struct {
	// Topic is the record's topic.
	Topic string `parquet:"kafka_topic"`
	// Partition is the record's partition.
	Partition int32 `parquet:"kafka_partition"`
	// Offset is the record's offset in its partition.
	Offset int64 `parquet:"kafka_offset"`
	// Key is the record key; nil when it has none.
	Key []byte `parquet:"key,optional"`
	// Value is the record value; nil for a tombstone.
	Value []byte `parquet:"value,optional"`
	// Time is the record timestamp.
	Time time.Time `parquet:"time,timestamp(millisecond)"`
}

// RecordOf returns the archive row of a Kafka record (headers are dropped).
func RecordOf(m kafkaio.Message) Record {
	return Record{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value, Time: m.Time}
}

// Message returns the Kafka record an archive row holds (without headers).
func (r Record) Message() kafkaio.Message {
	return kafkaio.Message{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Key: r.Key, Value: r.Value, Time: r.Time}
}

// Archive writes Kafka records as an archive that a Source can hand off from: each message becomes one Record
// row, written with parquetio's exactly-once sink to cfg (its URL is the archive). Read the topic with
// kafkaio.ReadConfig[kafkaio.Message] to get msgs.
func Archive(s pipeline.Scope, msgs pipeline.PCollection[kafkaio.Message], cfg parquetio.WriteConfig[Record]) {
	s = s.Scope("Archive")
	parquetio.Write(s, transforms.Map(s, msgs, RecordOf), cfg)
}
