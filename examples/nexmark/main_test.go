package main

import (
	"context"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/examples/nexmark/nexmark"
	"github.com/kappaflow/kappa/examples/nexmark/queries"
	"github.com/kappaflow/kappa/internal/testsvc/kafkatest"
)

// parse returns the options of a command line, with the flags' defaults.
func parse(t *testing.T, args ...string) options {
	t.Helper()
	fs := flag.NewFlagSet("nexmark", flag.ContinueOnError)
	var o options
	defineFlags(fs, &o)
	require.NoError(t, fs.Parse(args))
	return o
}

func runArgs(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out strings.Builder
	err := run(context.Background(), parse(t, args...), &out)
	return out.String(), err
}

// field returns the value of key=value in a result line.
func field(line, key string) string {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}

// An unknown query and bad generator or query parameters are usage errors naming the flag.
func TestUsageErrorsNameTheFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		flag string
	}{
		{[]string{"-query", "q9"}, "query"},
		{[]string{"-query", "q13"}, "query"},
		{[]string{"-mode", "micro"}, "mode"},
		{[]string{"-events", "-5"}, "events"},
		{[]string{"-events", "0"}, "events"},
		{[]string{"-rate", "-10"}, "rate"},
		{[]string{"-rate", "0"}, "rate"},
		{[]string{"-next-rate", "-1"}, "next-rate"},
		{[]string{"-rate-shape", "triangle"}, "rate-shape"},
		{[]string{"-generators", "0"}, "generators"},
		{[]string{"-events", "10", "-generators", "11"}, "generators"},
		{[]string{"-out-of-order", "-1"}, "out-of-order"},
		{[]string{"-hot-auctions", "0"}, "hot-auctions"},
		{[]string{"-hot-bidders", "-4"}, "hot-bidders"},
		{[]string{"-in-flight-auctions", "0"}, "in-flight-auctions"},
		{[]string{"-bid-size", "-1"}, "bid-size"},
		{[]string{"-window-size", "0s"}, "window-size"},
		{[]string{"-auction-skip", "0"}, "auction-skip"},
		{[]string{"-sink", "devnull"}, "sink"},
	} {
		_, err := runArgs(t, tc.args...)
		var ue *usageError
		require.True(t, errors.As(err, &ue), "%v: %v", tc.args, err)
		require.Equal(t, tc.flag, ue.flag, "%v: %v", tc.args, err)
		require.True(t, strings.HasPrefix(err.Error(), "-"+tc.flag+": "), err.Error())
	}
}

// Every query gives the same results (checksum) in batch mode, in stream mode with small micro-batches and over
// more splits and workers — but q6 and q12, whose panes follow micro-batches and processing time, which give
// the same number of sellers and bidders.
func TestQueriesBatchEqualsStream(t *testing.T) {
	for _, q := range queryNames() {
		common := []string{"-query", q, "-events", "30000", "-rate", "1000", "-window-size", "2s", "-window-period", "1s"}
		batch, err := runArgs(t, append(common, "-workers", "2")...)
		require.NoError(t, err, q)
		stream, err := runArgs(t, append(common, "-mode", "stream", "-batch", "333", "-workers", "3", "-splits", "5")...)
		require.NoError(t, err, q)
		require.Equal(t, "30000", field(batch, "events"), batch)
		require.NotEqual(t, "0", field(batch, "results"), batch)
		if q == "q6" || q == "q12" {
			continue
		}
		require.Equal(t, field(batch, "results"), field(stream, "results"), "%s\n%s\n%s", q, batch, stream)
		require.Equal(t, field(batch, "checksum"), field(stream, "checksum"), "%s\n%s\n%s", q, batch, stream)
	}
}

// The same events give the same results generated, archived as Parquet and read back, and published to Kafka and
// read back as a stream.
func TestEveryPathGivesTheSameResults(t *testing.T) {
	gen := []string{"-events", "20000", "-rate", "1000", "-out-of-order", "20"}
	dir := t.TempDir()
	_, err := runArgs(t, append(gen, "-write-parquet", dir)...)
	require.NoError(t, err)
	kafka := kafkatest.Start(t, kafkatest.Topic("nexmark", 3))
	_, err = runArgs(t, append(gen, "-publish", kafka.URL("nexmark"))...)
	require.NoError(t, err)
	for _, q := range []string{"q3", "q5", "q8"} {
		want, err := runArgs(t, append(gen, "-query", q)...)
		require.NoError(t, err)
		fromParquet, err := runArgs(t, append(gen, "-query", q, "-from", dir)...)
		require.NoError(t, err)
		fromKafka, err := runArgs(t, append(gen, "-query", q, "-from", kafka.URL("nexmark"), "-mode", "stream", "-stop-idle", "500ms")...)
		require.NoError(t, err)
		for _, got := range []string{fromParquet, fromKafka} {
			require.Equal(t, field(want, "checksum"), field(got, "checksum"), "%s\n%s\n%s", q, want, got)
			require.Equal(t, "20000", field(got, "events"))
		}
	}
}

// A query needing event time over a stream whose records have none (Kafka records without timestamps) stops
// with an error saying so.
func TestStreamWithoutEventTime(t *testing.T) {
	kafka := kafkatest.Start(t, kafkatest.Topic("untimed", 1))
	g, err := nexmark.NewGenerator(nexmark.DefaultConfig(100))
	require.NoError(t, err)
	var recs []kafkatest.Record
	for i := range g.Len() {
		v, err := g.Event(i).MarshalBinary()
		require.NoError(t, err)
		recs = append(recs, kafkatest.Record{Value: v, Time: time.UnixMilli(-1)})
	}
	kafka.Produce(t, "untimed", recs...)
	_, err = runArgs(t, "-query", "q5", "-from", kafka.URL("untimed"), "-mode", "stream", "-stop-idle", "300ms")
	require.ErrorIs(t, err, queries.ErrNoEventTime)
	require.ErrorContains(t, err, "q5 needs event times")
	// A query without windows runs.
	out, err := runArgs(t, "-query", "q1", "-from", kafka.URL("untimed"), "-mode", "stream", "-stop-idle", "300ms")
	require.NoError(t, err)
	require.Equal(t, "100", field(out, "events"), out)
}
