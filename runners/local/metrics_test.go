package local_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

// A running job serves Prometheus metrics at MetricsAddr/metrics: records read per source, watermarks, state.
func TestMetricsAreServedWhileRunning(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	feed := pipelinetest.NewFeed[kv]("0")
	for i := range 500 {
		feed.Send("0", pipelinetest.AtMillis(kv{Key: "k", Value: i}, int64(i)*1000))
	}
	p := pipeline.New()
	s := p.Root()
	in := pipeline.Read(s, pipeline.Source[kv](feed))
	pipelinetest.Collect(s, transforms.SumPerKey(s, windowing.Into(s, in, windowing.Fixed{Size: time.Minute})))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- local.New(local.Config{Mode: local.Stream, Workers: 2, MetricsAddr: addr, BatchWait: 5 * time.Millisecond}).Run(ctx, p)
	}()
	var body string
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return strings.Contains(body, `kappa_source_records_total{source="feed"} 500`)
	}, 10*time.Second, 20*time.Millisecond, "last scrape:\n%s", body)
	require.Contains(t, body, `kappa_watermark_seconds{source="feed"} 498.999`) // max event time − 1 ms
	require.Contains(t, body, "kappa_microbatch_duration_seconds_count")
	// Idle, the loop backs off to one micro-batch per BatchWait instead of spinning.
	before := scrapeCount(t, addr)
	time.Sleep(200 * time.Millisecond)
	require.Less(t, scrapeCount(t, addr)-before, 80.0, "micro-batches in 200 ms of idleness with a 5 ms wait")
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	_, err = http.Get("http://" + addr + "/metrics")
	require.Error(t, err, "the endpoint stops with the run")
}

func scrapeCount(t *testing.T, addr string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "kappa_microbatch_duration_seconds_count "); ok {
			n, err := strconv.ParseFloat(v, 64)
			require.NoError(t, err)
			return n
		}
	}
	t.Fatal("no micro-batch count")
	return 0
}
