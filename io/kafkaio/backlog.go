package kafkaio

import (
	"strconv"
	"time"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/twmb/franz-go/pkg/kgo"
)

var _ pipeline.BacklogReader = (*reader[[]byte])(nil)

// noteHead records the partition's end as of a fetch: its last stable offset (what read_committed can read up
// to), else its high watermark.
func (r *reader[T]) noteHead(p kgo.FetchTopicPartition) {
	if p.Partition != r.partition {
		return
	}
	switch {
	case p.LastStableOffset >= 0:
		r.head = p.LastStableOffset
	case p.HighWatermark >= 0:
		r.head = p.HighWatermark
	}
}

// Backlog reports the records between the reader's position and the partition's end as of the last fetch, and
// how far behind the reader is in time: now minus the timestamp of the next unread record (or, when it has not
// been fetched yet, of the last record read), 0 when caught up. Record timestamps are usually the produce time
// (CreateTime); a producer that stamps event times makes Behind the event-time lag instead. Bounded splits count
// up to their end offset.
func (r *reader[T]) Backlog(now time.Time) pipeline.Backlog {
	b := pipeline.Backlog{Records: -1, Behind: -1}
	if r.next >= 0 {
		b.Position = "offset " + strconv.FormatInt(r.next, 10)
	}
	head := r.head
	if r.end >= 0 && (head < 0 || r.end < head) {
		head = r.end
	}
	if head < 0 || r.next < 0 {
		return b
	}
	b.Records = max(head-r.next, 0)
	switch {
	case b.Records == 0:
		b.Behind = 0
	case len(r.pending) > 0 && r.pending[0] != nil:
		b.Behind = max(now.Sub(r.pending[0].Timestamp), 0)
	case !r.lastTime.IsZero():
		b.Behind = max(now.Sub(r.lastTime), 0)
	}
	return b
}
