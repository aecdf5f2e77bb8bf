package handoff_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/testsvc/kafkatest"
	"github.com/kappaflow/kappa/io/handoff"
	"github.com/kappaflow/kappa/io/kafkaio"
	"github.com/kappaflow/kappa/io/parquetio"
	"github.com/kappaflow/kappa/runners/local"
)

// Partitions' archives end at different offsets (partition 2 has none at all): the hand-off run gives the same
// multiset as a run over the whole topic from Kafka, and its cuts are the archived ends.
func TestHandoffEqualsKafkaRun(t *testing.T) {
	const n = 3000
	c := kafkatest.Start(t, kafkatest.Topic("events", 3))
	// First 1200 events: partition 1 gets two of every three (800), partition 0 one (400), partition 2 none.
	produce(t, c, 0, 1200, 3, func(i int) int32 { return int32(min(i%3, 1)) })
	archive := t.TempDir()
	archiveNow(t, c, archive)
	produce(t, c, 1200, n, 3, func(i int) int32 { return int32(i % 3) })

	ref := t.TempDir()
	require.NoError(t, local.New(local.Config{Logger: quiet}).Run(t.Context(), kafkaPipeline(c.Brokers, ref)))
	want := allEvents(n)
	require.Equal(t, want, readOut(t, ref))

	for _, mode := range []local.Mode{local.Batch, local.Stream} {
		t.Run(mode.String(), func(t *testing.T) {
			out := t.TempDir()
			cfg := local.Config{Mode: mode, Workers: 2, BatchRecords: 50, Logger: quiet}
			require.NoError(t, local.New(cfg).Run(t.Context(), handoffPipeline(t, c.Brokers, archive, out, 0)))
			require.Equal(t, want, readOut(t, out))
		})
	}

	src, err := handoff.NewSource(handoff.Config[string]{
		Archive: parquetio.ReadConfig[handoff.Record]{URL: archive},
		Kafka:   kafkaio.ReadConfig[string]{Brokers: c.Brokers, Topic: "events", Bounded: true}, Logger: quiet})
	require.NoError(t, err)
	splits, err := src.Splits(t.Context())
	require.NoError(t, err)
	require.Equal(t, map[int32]int64{0: 399, 1: 799}, src.Cuts())
	var kafkaSplits int
	for _, sp := range splits {
		switch sp.ID {
		case "kafka/0", "kafka/1":
			kafkaSplits++
			require.NotEmpty(t, sp.Parents, sp.ID)
		case "kafka/2":
			kafkaSplits++
			require.Empty(t, sp.Parents, "partition 2 has no archive")
		}
	}
	require.Equal(t, 3, kafkaSplits)
}
