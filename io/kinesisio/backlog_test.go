package kinesisio_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/testsvc/kinesistest"
	"github.com/kappaflow/kappa/pipeline"
)

// TestBacklog: a shard reader reports Kinesis's MillisBehindLatest of its last GetRecords call, unknown before
// the first; Kinesis does not tell how many records are behind.
func TestBacklog(t *testing.T) {
	srv := kinesistest.Start(t)
	srv.CreateStream(t, "backlog", 1)
	putAll(t, srv.Client(), "backlog", records("r", 20, 4))
	r := open(t, newSource(t, srv, "backlog", nil), shard0, nil)
	br, ok := r.(pipeline.BacklogReader)
	require.True(t, ok, "the Kinesis shard reader reports its backlog")
	require.Equal(t, pipeline.Backlog{Records: -1, Behind: -1}, br.Backlog(time.Now()), "no GetRecords call yet")

	vals, _ := readN(t, r, pipeline.Limits{MaxRecords: 5, MaxWait: time.Second}, 5, 10*time.Second)
	require.Len(t, vals, 5)
	b := br.Backlog(time.Now())
	require.EqualValues(t, -1, b.Records, "Kinesis does not count records behind")
	require.GreaterOrEqual(t, b.Behind, time.Duration(0), "MillisBehindLatest is known after a GetRecords call")
	require.Contains(t, b.Position, "after sequence ")
}
