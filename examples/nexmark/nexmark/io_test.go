package nexmark

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/testsvc/kafkatest"
	"github.com/kappaflow/kappa/io/kafkaio"
	"github.com/kappaflow/kappa/io/parquetio"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
)

func eventLines(evs []Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.String()
	}
	slices.Sort(out)
	return out
}

func generated(t *testing.T, cfg Config) []Event {
	g, err := NewGenerator(cfg)
	require.NoError(t, err)
	out := make([]Event, g.Len())
	for i := range out {
		out[i] = g.Event(int64(i))
	}
	return out
}

// Events archived as Parquet read back as the same events, with their event times, in batch and stream mode.
func TestParquetRoundTrip(t *testing.T) {
	cfg := DefaultConfig(3000)
	dir := t.TempDir()
	p := pipeline.New()
	s := p.Root()
	src, err := NewSource(cfg, SourceConfig{Splits: 2})
	require.NoError(t, err)
	WriteParquet(s, Read(s, src), parquetio.WriteConfig[Event]{URL: dir})
	pipelinetest.Run(t, p, local.Config{Workers: 2})
	want := eventLines(generated(t, cfg))
	for _, mode := range []local.Mode{local.Batch, local.Stream} {
		p := pipeline.New()
		s := p.Root()
		events := ReadParquet(s, parquetio.ReadConfig[Event]{URL: dir}, 0)
		res := pipelinetest.Collect(s, events)
		pipelinetest.Run(t, p, local.Config{Mode: mode, Workers: 2})
		var got []Event
		for _, e := range res.Elements() {
			require.Equal(t, pipeline.Time(e.Value.DateTime), e.Time)
			require.NoError(t, e.Value.Valid())
			got = append(got, e.Value)
		}
		require.Equal(t, want, eventLines(got), "mode %v", mode)
	}
}

// Events published to Kafka read back as the same events, with the event time as record timestamp.
func TestKafkaRoundTrip(t *testing.T) {
	cfg := DefaultConfig(3000)
	kafka := kafkatest.Start(t, kafkatest.Topic("nexmark", 3))
	p := pipeline.New()
	s := p.Root()
	src, err := NewSource(cfg, SourceConfig{})
	require.NoError(t, err)
	wc, err := kafkaio.WriteConfigFromURL[Event](kafka.URL("nexmark"))
	require.NoError(t, err)
	WriteKafka(s, Read(s, src), wc)
	pipelinetest.Run(t, p, local.Config{Workers: 1})

	p = pipeline.New()
	s = p.Root()
	rc, err := kafkaio.ReadConfigFromURL[Event](kafka.URL("nexmark"))
	require.NoError(t, err)
	rc.Bounded = true
	res := pipelinetest.Collect(s, ReadKafka(s, rc, time.Millisecond))
	pipelinetest.Run(t, p, local.Config{Mode: local.Stream, Workers: 2})
	var got []Event
	for _, e := range res.Elements() {
		require.Equal(t, pipeline.Time(e.Value.DateTime), e.Time)
		got = append(got, e.Value)
	}
	require.Equal(t, eventLines(generated(t, cfg)), eventLines(got))
}
