package handoff_test

import (
	"encoding/binary"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/testsvc/kafkatest"
	"github.com/kappaflow/kappa/io/handoff"
	"github.com/kappaflow/kappa/io/kafkaio"
	"github.com/kappaflow/kappa/io/objstore"
	"github.com/kappaflow/kappa/io/parquetio"
	"github.com/kappaflow/kappa/pipeline"
)

// handoffPos builds the position a hand-off Kafka split reports: switched at start, next offset next.
func handoffPos(start, next int64) []byte {
	pos := binary.AppendUvarint([]byte{1}, uint64(start+1))
	return append(pos, kafkaio.EncodePosition(next)...)
}

func TestBadInput(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("events", 2), kafkatest.Topic("other", 1))
	produce(t, c, 0, 100, 2, func(i int) int32 { return int32(i % 2) })
	archive := t.TempDir()
	archiveNow(t, c, archive) // cuts 0:49 1:49
	produce(t, c, 100, 200, 2, func(i int) int32 { return int32(i % 2) })
	kafka := kafkaio.ReadConfig[string]{Brokers: c.Brokers, Topic: "events", Bounded: true}

	tests := []struct {
		name string
		cfg  handoff.Config[string]
		open func(t *testing.T, src *handoff.Source[string]) error
		want string
	}{
		{name: "no archive URL", cfg: handoff.Config[string]{Kafka: kafka}, want: "Config.Archive.URL is empty"},
		{name: "group mode", cfg: handoff.Config[string]{Archive: parquetio.ReadConfig[handoff.Record]{URL: archive},
			Kafka: kafkaio.ReadConfig[string]{Brokers: c.Brokers, Topic: "events", Group: "g"}}, want: "Group is not supported"},
		{name: "fallback without cut", cfg: handoff.Config[string]{Archive: parquetio.ReadConfig[handoff.Record]{URL: archive},
			Kafka: kafka, Fallback: &handoff.Fallback[string]{}}, want: "Fallback.Cut is zero"},
		{name: "archive of another topic", cfg: handoff.Config[string]{Archive: parquetio.ReadConfig[handoff.Record]{URL: archive},
			Kafka: kafkaio.ReadConfig[string]{Brokers: c.Brokers, Topic: "other", Bounded: true}},
			open: func(t *testing.T, src *handoff.Source[string]) error { _, err := src.Splits(t.Context()); return err },
			want: `holds topic "events" partition`},
		{name: "empty archive folder", cfg: handoff.Config[string]{Archive: parquetio.ReadConfig[handoff.Record]{URL: filepath.Join(t.TempDir(), "none")}, Kafka: kafka},
			open: func(t *testing.T, src *handoff.Source[string]) error { _, err := src.Splits(t.Context()); return err },
			want: "no objects match"},
		{name: "archive changed after the partition switched", cfg: handoff.Config[string]{Archive: parquetio.ReadConfig[handoff.Record]{URL: archive}, Kafka: kafka},
			open: func(t *testing.T, src *handoff.Source[string]) error {
				_, err := src.Open(t.Context(), pipeline.Split{ID: "kafka/1"}, handoffPos(30, 70))
				return err
			},
			want: "partition 1: the checkpoint switched to Kafka at offset 30 but the archive"},
		{name: "corrupt position", cfg: handoff.Config[string]{Archive: parquetio.ReadConfig[handoff.Record]{URL: archive}, Kafka: kafka},
			open: func(t *testing.T, src *handoff.Source[string]) error {
				_, err := src.Open(t.Context(), pipeline.Split{ID: "kafka/0"}, []byte{9, 9})
				return err
			},
			want: "invalid hand-off position"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Logger = quiet
			src, err := handoff.NewSource(tt.cfg)
			if tt.open == nil {
				require.ErrorContains(t, err, tt.want)
				return
			}
			require.NoError(t, err)
			require.ErrorContains(t, tt.open(t, src), tt.want)
		})
	}

	t.Run("restored position with the same cut resumes", func(t *testing.T) {
		src, err := handoff.NewSource(handoff.Config[string]{Archive: parquetio.ReadConfig[handoff.Record]{URL: archive}, Kafka: kafka, Logger: quiet})
		require.NoError(t, err)
		r, err := src.Open(t.Context(), pipeline.Split{ID: "kafka/1"}, handoffPos(50, 70))
		require.NoError(t, err)
		defer r.Close()
		d, err := handoff.DecodePosition("kafka/1", r.Position())
		require.NoError(t, err)
		require.Equal(t, "kafka next=70 (switched at 50)", d)
	})

	t.Run("pointer", func(t *testing.T) {
		ptr := filepath.Join(t.TempDir(), "CURRENT")
		_, err := handoff.Current(t.Context(), ptr, objstore.Config{})
		require.ErrorContains(t, err, ptr)
		require.ErrorContains(t, handoff.Switch(t.Context(), ptr, "a\nb", objstore.Config{}), "invalid target")
		require.NoError(t, handoff.Switch(t.Context(), ptr, "/out/v1/", objstore.Config{}))
		require.NoError(t, handoff.Switch(t.Context(), ptr, "/out/v2/", objstore.Config{}))
		cur, err := handoff.Current(t.Context(), ptr, objstore.Config{})
		require.NoError(t, err)
		require.Equal(t, "/out/v2/", cur)
	})
}
