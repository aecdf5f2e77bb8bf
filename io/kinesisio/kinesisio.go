package kinesisio

import (
	"fmt"

	"github.com/kappaflow/kappa/pipeline"
)

// Read adds a Kinesis source to the pipeline: an unbounded collection of the stream's records decoded as T, one
// split per shard. A record the decoder rejects stops the pipeline with an error naming its shard and sequence
// number; use ReadWithDeadLetters to route such records to a collection instead. An invalid cfg is recorded as a
// construction error of s and returns an invalid collection.
func Read[T any](s pipeline.Scope, cfg ReadConfig[T], opts ...pipeline.ReadOption) pipeline.PCollection[T] {
	src, err := NewSource(cfg)
	if err != nil {
		s.AddError(fmt.Errorf("kinesisio.Read: %w", err))
		return pipeline.PCollection[T]{}
	}
	return pipeline.Read[T](s, src, opts...)
}

// ReadWithDeadLetters is Read with a dead-letter output: records the decoder rejects become *pipeline.RecordError
// elements (Location "shard ID sequence N", Raw the record's data) and the pipeline goes on.
func ReadWithDeadLetters[T any](s pipeline.Scope, cfg ReadConfig[T], opts ...pipeline.ReadOption) (pipeline.PCollection[T], pipeline.PCollection[*pipeline.RecordError]) {
	src, err := NewSource(cfg)
	if err != nil {
		s.AddError(fmt.Errorf("kinesisio.ReadWithDeadLetters: %w", err))
		return pipeline.PCollection[T]{}, pipeline.PCollection[*pipeline.RecordError]{}
	}
	return pipeline.ReadWithDeadLetters[T](s, src, opts...)
}

// Write adds a Kinesis sink for col (at-least-once; see Sink). An invalid cfg is recorded as a construction
// error of s.
func Write[T any](s pipeline.Scope, col pipeline.PCollection[T], cfg WriteConfig[T]) {
	sink, err := NewSink(cfg)
	if err != nil {
		s.AddError(fmt.Errorf("kinesisio.Write: %w", err))
		return
	}
	pipeline.Write[T](s, col, sink)
}
