package kafkaio

import (
	"github.com/kappaflow/kappa/pipeline"
)

// Read adds a Kafka source to the pipeline. A record that cannot be decoded stops the pipeline with an error
// naming its partition and offset; use ReadWithDeadLetters to route such records to a collection instead. opts
// are pipeline.ReadOptions (watermark bound, idle timeout, name); the default name is "kafkaio.Read".
func Read[T any](s pipeline.Scope, cfg ReadConfig[T], opts ...pipeline.ReadOption) pipeline.PCollection[T] {
	src, err := NewSource(cfg)
	if err != nil {
		s.AddError(err)
		return pipeline.PCollection[T]{}
	}
	return pipeline.Read(s, src, withName(opts)...)
}

// ReadWithDeadLetters is Read with a dead-letter output: each record Decode fails on becomes a
// *pipeline.RecordError in the second collection (Location "partition P offset O", Raw the record value) and the
// pipeline goes on.
func ReadWithDeadLetters[T any](s pipeline.Scope, cfg ReadConfig[T], opts ...pipeline.ReadOption) (pipeline.PCollection[T], pipeline.PCollection[*pipeline.RecordError]) {
	src, err := NewSource(cfg)
	if err != nil {
		s.AddError(err)
		return pipeline.PCollection[T]{}, pipeline.PCollection[*pipeline.RecordError]{}
	}
	return pipeline.ReadWithDeadLetters(s, src, withName(opts)...)
}

// Write adds a Kafka sink for col.
func Write[T any](s pipeline.Scope, col pipeline.PCollection[T], cfg WriteConfig[T]) {
	sink, err := NewSink(cfg)
	if err != nil {
		s.AddError(err)
		return
	}
	pipeline.Write(s, col, sink)
}

func withName(opts []pipeline.ReadOption) []pipeline.ReadOption {
	return append([]pipeline.ReadOption{pipeline.ReadName("kafkaio.Read")}, opts...)
}
