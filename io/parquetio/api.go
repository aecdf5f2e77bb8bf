package parquetio

import (
	"github.com/kappaflow/kappa/pipeline"
)

// Read adds a Parquet source to the pipeline: records of type T from the files cfg.URL names. Unreadable input
// stops the pipeline with a *FileError unless cfg.OnError is DeadLetter (then use ReadWithDeadLetters). opts
// tune the read transform (pipeline.OutOfOrderness, pipeline.ReadName, ...); its default name is "ReadParquet".
// A config error is recorded on the pipeline.
func Read[T any](s pipeline.Scope, cfg ReadConfig[T], opts ...pipeline.ReadOption) pipeline.PCollection[T] {
	src, err := NewSource(cfg)
	if err != nil {
		s.AddError(err)
		return pipeline.PCollection[T]{}
	}
	return pipeline.Read[T](s, src, append([]pipeline.ReadOption{pipeline.ReadName("ReadParquet")}, opts...)...)
}

// ReadWithDeadLetters is Read with cfg.OnError set to DeadLetter: each unreadable file or row group becomes one
// *pipeline.RecordError in the second collection (its Err a *FileError naming the object, row group and column)
// and the rest of the input is read.
func ReadWithDeadLetters[T any](s pipeline.Scope, cfg ReadConfig[T], opts ...pipeline.ReadOption) (pipeline.PCollection[T], pipeline.PCollection[*pipeline.RecordError]) {
	cfg.OnError = DeadLetter
	src, err := NewSource(cfg)
	if err != nil {
		s.AddError(err)
		return pipeline.PCollection[T]{}, pipeline.PCollection[*pipeline.RecordError]{}
	}
	return pipeline.ReadWithDeadLetters[T](s, src, append([]pipeline.ReadOption{pipeline.ReadName("ReadParquet")}, opts...)...)
}

// Write adds a Parquet sink for col: files rolled by size, row count, window and pane under cfg.URL, published
// exactly once per epoch, with a _SUCCESS marker in each folder once final. A config error is recorded on the
// pipeline.
func Write[T any](s pipeline.Scope, col pipeline.PCollection[T], cfg WriteConfig[T]) {
	sink, err := NewSink(cfg)
	if err != nil {
		s.AddError(err)
		return
	}
	pipeline.Write[T](s, col, sink)
}
