package kinesisio

import (
	"time"

	"github.com/kappaflow/kappa/pipeline"
)

var _ pipeline.BacklogReader = (*shardReader[[]byte])(nil)

// Backlog reports how far the shard reader is behind the tip of the shard: the MillisBehindLatest of its last
// GetRecords call (Kinesis's own measure), 0 once the shard is closed and read. Kinesis does not say how many
// records are behind, so Records is -1 (unknown).
func (r *shardReader[T]) Backlog(time.Time) pipeline.Backlog {
	b := pipeline.Backlog{Records: -1, Behind: -1}
	if r.appended != "" {
		b.Position = "after sequence " + r.appended
	}
	switch {
	case r.ended && len(r.pending) == 0:
		b.Behind, b.Records = 0, 0
	case r.behind != nil:
		b.Behind = time.Duration(*r.behind) * time.Millisecond
	}
	return b
}
