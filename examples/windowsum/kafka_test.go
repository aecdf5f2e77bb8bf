package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/testsvc/kafkatest"
	"github.com/kappaflow/kappa/internal/w1"
	"github.com/kappaflow/kappa/jobcli"
)

// W1 published to Kafka (key = key, value = 8-byte big-endian value, timestamp = event time) and streamed back
// with -from kafka:// -mode stream prints W1's checksum once the stream has gone idle and drained.
func TestW1ThroughKafka(t *testing.T) {
	const n = 200_000
	kafka := kafkatest.Start(t, kafkatest.Topic("w1", 4))
	var out strings.Builder
	require.NoError(t, run(context.Background(), options{n: n, publish: kafka.URL("w1")}, &out))
	require.Contains(t, out.String(), "events=200000 wrote=kafka://")
	out.Reset()
	require.NoError(t, run(context.Background(), options{from: kafka.URL("w1"), job: jobcli.Flags{Mode: "stream", Workers: 2}, stopIdle: 2 * time.Second}, &out))
	sum, rows := w1.PlainLoop(n, false)
	require.Contains(t, out.String(), "events=200000 ")
	require.Contains(t, out.String(), " checksum="+w1.FormatChecksum(sum)+" ")
	require.Contains(t, out.String(), fmt.Sprintf(" rows=%d ", rows))
}
