package beam_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/testsvc/kafkatest"
	"github.com/kappaflow/kappa/io/kafkaio"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/beam"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

// TestIdlePartitionDoesNotHoldWatermarkOnPrism reads a Kafka topic of two partitions, one receiving records and
// one idle, with pipeline.IdleTimeout, into one-minute windows counted per key, on runners/local (stream mode) and
// on Prism, both running until cancelled: the idle partition stops holding the watermark back, so windows fire
// while the stream runs, as far as the live partition's records reach and no further — the same windows and
// counts on both runners. Before the idleness rule on Beam, the idle partition held Prism's watermark at the
// beginning of time and no window fired until the stream drained.
func TestIdlePartitionDoesNotHoldWatermarkOnPrism(t *testing.T) {
	base := time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC)
	timed := func(from, n int) []kafkatest.Record { // one record per second of event time, on partition 0
		out := make([]kafkatest.Record, n)
		for i := range out {
			out[i] = kafkatest.Record{Partition: 0, Key: []byte("a"), Value: []byte("x"),
				Time: base.Add(time.Duration(from+i) * time.Second)}
		}
		return out
	}
	runners := []struct {
		name string
		run  func(context.Context, *pipeline.Pipeline) error
	}{
		{"local", local.New(local.Config{Mode: local.Stream, BatchWait: 20 * time.Millisecond,
			EpochInterval: 100 * time.Millisecond}).Run},
		{"prism", beam.New(beam.Config{}).Run},
	}
	for _, r := range runners {
		t.Run(r.name, func(t *testing.T) {
			c := kafkatest.Start(t, kafkatest.Topic("events", 2))
			c.Produce(t, "events", timed(0, 150)...) // windows 0m (60), 1m (60), 2m (30 so far)

			p := pipeline.New()
			s := p.Root()
			keys := kafkaio.Read(s, kafkaio.ReadConfig[string]{Brokers: c.Brokers, Topic: "events",
				Decode: func(m kafkaio.Message) (string, error) { return string(m.Key), nil }},
				pipeline.IdleTimeout(300*time.Millisecond))
			w := windowing.Into(s, keys, windowing.Fixed{Size: time.Minute})
			got := pipelinetest.Collect(s, transforms.Count(s, w))
			windows := func() []string {
				var out []string
				for _, e := range got.Elements() {
					out = append(out, fmt.Sprintf("%s@%v=%d", e.Value.Key, time.Duration(e.Window.Start-pipeline.TimeOf(base))*time.Millisecond, e.Value.Value))
				}
				slices.Sort(out)
				return out
			}

			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- r.run(ctx, p) }()
			waitFor := func(what string, n int) {
				t.Helper()
				deadline := time.Now().Add(30 * time.Second)
				for len(got.Elements()) < n {
					select {
					case err := <-done:
						t.Fatalf("waiting for %s: the run stopped: %v (windows %v)", what, err, windows())
					case <-time.After(50 * time.Millisecond):
					}
					if time.Now().After(deadline) {
						t.Fatalf("waiting for %s: not within 30s, windows %v", what, windows())
					}
				}
			}

			// The live partition's watermark is at 2m29s: windows 0m and 1m fire, window 2m cannot.
			waitFor("windows 0m and 1m with partition 1 idle", 2)
			require.Equal(t, []string{"a@0s=60", "a@1m0s=60"}, windows())
			// More records move it to 3m09s: window 2m fires with the 60 records it now has, 3m not yet.
			c.Produce(t, "events", timed(150, 40)...)
			waitFor("window 2m after partition 0 moved on", 3)
			cancel()
			err := <-done
			require.True(t, err == nil || errors.Is(err, context.Canceled), "run: %v", err)
			require.Equal(t, []string{"a@0s=60", "a@1m0s=60", "a@2m0s=60"}, windows())
		})
	}
}
