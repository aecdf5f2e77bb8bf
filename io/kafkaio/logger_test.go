package kafkaio_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/testsvc/kafkatest"
	"github.com/kappaflow/kappa/io/kafkaio"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
)

// A source without a Logger of its own logs through the job's logger (the runner's Config.Logger), not
// slog.Default(); one with a Logger keeps it.
func TestSourceLogsThroughTheJobsLogger(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("t", 1))
	c.Produce(t, "t", rec(0, "a", 1), rec(0, "b", 2))
	debug := func(b *syncBuffer) *slog.Logger {
		return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	run := func(group string, own, job *syncBuffer) []string {
		cfg := kafkaio.ReadConfig[string]{Brokers: c.Brokers, Topic: "t", Group: group}
		if own != nil {
			cfg.Logger = debug(own)
		}
		p := pipeline.New()
		s := p.Root()
		res := pipelinetest.Collect(s, kafkaio.Read(s, cfg))
		rcfg := local.Config{Workers: 1, Mode: local.Stream, StopWhenIdle: 300 * time.Millisecond, BatchWait: 20 * time.Millisecond, Logger: debug(job)}
		require.NoError(t, local.New(rcfg).Run(context.Background(), p))
		return res.Values()
	}
	// The first run of each group commits its offsets; the second starts there and says so (at Debug level).
	const line = `msg="kafka split starts at the group's committed offset"`
	var job1, job2, own2 syncBuffer
	require.ElementsMatch(t, []string{"a", "b"}, run("g1", nil, &job1))
	c.Produce(t, "t", rec(0, "c", 3))
	require.Equal(t, []string{"c"}, run("g1", nil, &job1))
	require.Contains(t, job1.String(), line, "the source logged through the job's logger")

	require.ElementsMatch(t, []string{"a", "b", "c"}, run("g2", nil, &syncBuffer{}))
	c.Produce(t, "t", rec(0, "d", 4))
	require.Equal(t, []string{"d"}, run("g2", &own2, &job2))
	require.Contains(t, own2.String(), line, "ReadConfig.Logger wins")
	require.NotContains(t, job2.String(), line)
}
