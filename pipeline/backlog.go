package pipeline

import "time"

// Backlog is what a split reader knows of the data between its position and the head of its split: how many
// records it is behind and how long the oldest of them has been waiting. Status pages show it per split (the
// local runner's StatusAddr).
type Backlog struct {
	// Records is the number of records between the position and the head of the split (Kafka: the partition's
	// high watermark minus the next offset), or -1 when unknown.
	Records int64
	// Behind is how far the reader is behind the head in time (Kafka: processing time minus the timestamp of the
	// next unread record; Kinesis: the MillisBehindLatest of the last GetRecords call), 0 when caught up, or -1
	// when unknown.
	Behind time.Duration
	// Position describes the position for people, e.g. "offset 1234" (empty: the runner shows the raw bytes).
	Position string
}

// BacklogReader is implemented by SplitReaders that know their backlog. The runner calls Backlog between
// micro-batches, never concurrently with ReadBatch. It should be cheap: it answers from what the last reads
// learnt and makes no calls to the source's servers.
type BacklogReader interface {
	Backlog(now time.Time) Backlog
}

// Backlog returns the backlog of the split's reader; ok is false when the reader does not implement
// BacklogReader.
func (s *splitRunner[T]) Backlog(now time.Time) (b Backlog, ok bool) {
	br, ok := s.r.(BacklogReader)
	if !ok {
		return Backlog{}, false
	}
	return br.Backlog(now), true
}
