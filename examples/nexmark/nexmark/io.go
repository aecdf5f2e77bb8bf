package nexmark

import (
	"time"

	"github.com/kappaflow/kappa/io/kafkaio"
	"github.com/kappaflow/kappa/io/parquetio"
	"github.com/kappaflow/kappa/pipeline"
)

// TimeColumn is the Parquet column holding each event's time: set parquetio.ReadConfig.TimeColumn to it so
// that reads get event times, watermark hints and time-range pruning.
const TimeColumn = "date_time"

// EncodeKafka turns an event into a Kafka record: the binary encoding as value (see AppendBinary), no key, the
// event time as timestamp. Use it as kafkaio.WriteConfig.Encode.
func EncodeKafka(e Event) (kafkaio.Message, error) {
	v, err := e.MarshalBinary()
	if err != nil {
		return kafkaio.Message{}, err
	}
	return kafkaio.Message{Value: v, Time: time.UnixMilli(e.DateTime)}, nil
}

// DecodeKafka decodes a record written with EncodeKafka. Use it as kafkaio.ReadConfig.Decode; the element's event
// time is then the record timestamp, which EncodeKafka set to the event time.
func DecodeKafka(m kafkaio.Message) (Event, error) {
	var e Event
	if err := e.UnmarshalBinary(m.Value); err != nil {
		return Event{}, err
	}
	return e, nil
}

// WriteKafka publishes events to cfg's topic, encoded by EncodeKafka and spread round-robin over its partitions.
// Each partition then holds its share of each writer's events in the order written; write from one worker
// (one split) to keep every partition in generation order, within the generator's MaxDisorder.
func WriteKafka(s pipeline.Scope, events pipeline.PCollection[Event], cfg kafkaio.WriteConfig[Event]) {
	cfg.Encode = EncodeKafka
	cfg.Partitioning = kafkaio.RoundRobin
	kafkaio.Write(s, events, cfg)
}

// ReadKafka reads events published by WriteKafka, with event times from the record timestamps and an
// out-of-orderness bound of maxDisorder (Generator.MaxDisorder, 0 for in-order events).
func ReadKafka(s pipeline.Scope, cfg kafkaio.ReadConfig[Event], maxDisorder time.Duration, opts ...pipeline.ReadOption) pipeline.PCollection[Event] {
	cfg.Decode = DecodeKafka
	return kafkaio.Read(s, cfg, append([]pipeline.ReadOption{pipeline.OutOfOrderness(maxDisorder)}, opts...)...)
}

// WriteParquet archives events as Parquet under cfg.URL, in folders by event time (dt=YYYY-MM-DD/hour=HH by
// default), so that backfills can prune by time; TimeColumn is the time column.
func WriteParquet(s pipeline.Scope, events pipeline.PCollection[Event], cfg parquetio.WriteConfig[Event]) {
	cfg.PartitionByEventTime = true
	if cfg.FolderLayout == "" {
		cfg.FolderLayout = "dt=2006-01-02/hour=15"
	}
	parquetio.Write(s, events, cfg)
}

// ReadParquet reads events archived by WriteParquet (or any Parquet files of Events), with event times from
// TimeColumn and an out-of-orderness bound of maxDisorder for stream mode.
func ReadParquet(s pipeline.Scope, cfg parquetio.ReadConfig[Event], maxDisorder time.Duration, opts ...pipeline.ReadOption) pipeline.PCollection[Event] {
	if cfg.TimeColumn == "" && cfg.EventTime == nil {
		cfg.TimeColumn = TimeColumn
	}
	return parquetio.Read(s, cfg, append([]pipeline.ReadOption{pipeline.OutOfOrderness(maxDisorder)}, opts...)...)
}
