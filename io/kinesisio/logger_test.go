package kinesisio_test

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/testsvc/kinesistest"
	"github.com/kappaflow/kappa/io/kinesisio"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
)

// lockedBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// A source without a Logger of its own logs through the job's logger (the runner's Config.Logger), not
// slog.Default(); one with a Logger keeps it. Failed before: kinesisio ignored the job's logger.
func TestSourceLogsThroughTheJobsLogger(t *testing.T) {
	t.Parallel()
	srv := kinesistest.Start(t)
	srv.CreateStream(t, "logs", 1)
	putAll(t, srv.Client(), "logs", records("r", 3, 1))
	debug := func(b *lockedBuffer) *slog.Logger {
		return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	run := func(own, job *lockedBuffer) []string {
		cfg := kinesisio.ReadConfig[string]{Stream: "logs", Connection: kinesisio.Connection{Endpoint: srv.Endpoint}}
		if own != nil {
			cfg.Logger = debug(own)
		}
		p := pipeline.New()
		s := p.Root()
		res := pipelinetest.Collect(s, kinesisio.Read(s, cfg))
		rcfg := local.Config{Workers: 1, Mode: local.Stream, StopWhenIdle: 500 * time.Millisecond, BatchWait: 20 * time.Millisecond, Logger: debug(job)}
		require.NoError(t, local.New(rcfg).Run(context.Background(), p))
		return res.Values()
	}
	const line = `msg="kinesis shard opened"`
	var job1, job2, own2 lockedBuffer
	require.ElementsMatch(t, datas(records("r", 3, 1)), run(nil, &job1))
	require.Contains(t, job1.String(), line, "the source logged through the job's logger")
	require.Contains(t, job1.String(), "source=kinesis://logs")

	require.ElementsMatch(t, datas(records("r", 3, 1)), run(&own2, &job2))
	require.Contains(t, own2.String(), line, "ReadConfig.Logger wins")
	require.NotContains(t, job2.String(), line)
}
