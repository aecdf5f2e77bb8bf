package kafkaio_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/testsvc/kafkatest"
	"github.com/kappaflow/kappa/io/kafkaio"
	"github.com/kappaflow/kappa/pipeline"
)

// TestBacklog: a split reader reports the records between its position and the partition's end, and how long the
// next unread record has waited (its timestamp to now); both are 0 once it has caught up.
func TestBacklog(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("events", 2))
	produced := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	var recs []kafkatest.Record
	for i := range 100 {
		recs = append(recs, kafkatest.Record{Partition: 1, Value: fmt.Appendf(nil, "v%d", i), Time: produced.Add(time.Duration(i) * time.Millisecond)})
	}
	c.Produce(t, "events", recs...)
	src := newSource(t, kafkaio.ReadConfig[string]{Brokers: c.Brokers, Topic: "events"})
	r, err := src.Open(ctxT(t), pipeline.Split{ID: "1"}, nil)
	require.NoError(t, err)
	defer r.Close()
	br, ok := r.(pipeline.BacklogReader)
	require.True(t, ok, "the Kafka split reader reports its backlog")

	b := br.Backlog(time.Now())
	require.Equal(t, pipeline.Backlog{Records: -1, Behind: -1, Position: "offset 0"}, b, "nothing fetched yet: unknown")

	got := drainReader(t, r, 10, pipeline.Limits{MaxRecords: 10})
	require.Len(t, got.values, 10)
	now := time.Now()
	b = br.Backlog(now)
	require.EqualValues(t, 90, b.Records, "100 records, 10 read")
	require.Equal(t, "offset 10", b.Position)
	// The next unread record (offset 10) waited since its timestamp; until it is fetched, the last one read
	// (offset 9) stands in for it.
	require.GreaterOrEqual(t, b.Behind, now.Sub(produced.Add(10*time.Millisecond)))
	require.LessOrEqual(t, b.Behind, now.Sub(produced.Add(9*time.Millisecond)))

	got = drainReader(t, r, 90, pipeline.Limits{MaxRecords: 1000})
	require.Len(t, got.values, 90)
	require.Equal(t, pipeline.Backlog{Records: 0, Behind: 0, Position: "offset 100"}, br.Backlog(time.Now()), "caught up")
}
