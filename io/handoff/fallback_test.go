package handoff_test

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/testsvc/kafkatest"
	"github.com/kappaflow/kappa/io/handoff"
	"github.com/kappaflow/kappa/io/kafkaio"
	"github.com/kappaflow/kappa/io/parquetio"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
)

// Ev is an event as another tool archived it: no Kafka coordinates.
type Ev struct {
	V  string    `parquet:"v"`
	At time.Time `parquet:"at,timestamp(millisecond)"`
}

// An archive without offsets hands off at an event-time cut: with Fallback the events in [Cut-Overlap, Cut) are
// read twice (documented), none is lost, and a warning says so; without Fallback the archive is refused.
func TestFallbackEventTimeCut(t *testing.T) {
	const n, archived = 2000, 1000
	c := kafkatest.Start(t, kafkatest.Topic("events", 2))
	produce(t, c, 0, n, 2, func(i int) int32 { return int32(i % 2) })
	archive := t.TempDir()
	var rows []Ev
	for i := range archived {
		rows = append(rows, Ev{V: "e-" + strconv.Itoa(i), At: base.Add(time.Duration(i) * time.Millisecond)})
	}
	require.NoError(t, parquet.WriteFile(filepath.Join(archive, "part-0.parquet"), rows))

	kafka := kafkaio.ReadConfig[Ev]{Brokers: c.Brokers, Topic: "events", Bounded: true,
		Decode: func(m kafkaio.Message) (Ev, error) { return Ev{V: string(m.Value), At: m.Time}, nil }}
	cut := base.Add(archived * time.Millisecond)

	t.Run("refused without Fallback", func(t *testing.T) {
		src, err := handoff.NewSource(handoff.Config[Ev]{Archive: parquetio.ReadConfig[handoff.Record]{URL: archive}, Kafka: kafka, Logger: quiet})
		require.NoError(t, err)
		_, err = src.Splits(t.Context())
		require.ErrorContains(t, err, "has no Kafka offsets")
		require.ErrorContains(t, err, "part-0.parquet")
	})

	t.Run("event-time cut with overlap", func(t *testing.T) {
		var logs bytes.Buffer
		src, err := handoff.NewSource(handoff.Config[Ev]{
			Archive: parquetio.ReadConfig[handoff.Record]{URL: archive},
			Kafka:   kafka,
			Fallback: &handoff.Fallback[Ev]{Archive: parquetio.ReadConfig[Ev]{TimeColumn: "at", ProgressInterval: -1},
				Cut: cut, Overlap: 100 * time.Millisecond},
			Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		})
		require.NoError(t, err)
		p := pipeline.New()
		s := p.Root()
		out := t.TempDir()
		parquetio.Write(s, transforms.Map(s, pipeline.Read(s, src), func(e Ev) Out { return Out{V: e.V} }),
			parquetio.WriteConfig[Out]{URL: out, Logger: quiet})
		require.NoError(t, local.New(local.Config{Logger: quiet}).Run(t.Context(), p))
		want := allEvents(n)
		for i := archived - 100; i < archived; i++ {
			want = append(want, "e-"+strconv.Itoa(i))
		}
		slices.Sort(want)
		require.Equal(t, want, readOut(t, out))
		require.Contains(t, logs.String(), "level=WARN")
		require.Contains(t, logs.String(), "no Kafka offsets")
	})
}
