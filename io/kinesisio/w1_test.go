package kinesisio_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/testsvc/kinesistest"
	"github.com/kappaflow/kappa/internal/w1"
	"github.com/kappaflow/kappa/io/kinesisio"
	"github.com/kappaflow/kappa/pipeline"
)

// TestW1RoundTrip writes W1 events through two sink writers to a 4-shard stream, reads every shard back with
// event times from the events, sums per key and minute window and checks the W1 checksum against the plain loop.
func TestW1RoundTrip(t *testing.T) {
	t.Parallel()
	const n = 5000
	ctx := context.Background()
	srv := kinesistest.Start(t)
	srv.CreateStream(t, "w1", 4)
	conn := kinesisio.Connection{Endpoint: srv.Endpoint}

	sink, err := kinesisio.NewSink(kinesisio.WriteConfig[w1.Event]{
		Stream: "w1", Connection: conn, Logger: testLogger(t),
		Encoder: kinesisio.JSONEncoder(func(e w1.Event) string { return e.Key }),
	})
	require.NoError(t, err)
	for shard := range 2 {
		w, err := sink.Open(ctx, pipeline.Shard{Index: shard, Count: 2})
		require.NoError(t, err)
		var elems []pipeline.Element[w1.Event]
		for i := int64(shard); i < n; i += 2 {
			e := w1.Gen(i)
			elems = append(elems, pipeline.Element[w1.Event]{Value: e, Time: pipeline.Time(e.Time)})
		}
		require.NoError(t, w.Write(ctx, elems))
		_, err = w.Prepare(ctx, pipeline.Epoch{ID: 1})
		require.NoError(t, err)
		require.NoError(t, w.Close(ctx))
	}

	src, err := kinesisio.NewSource(kinesisio.ReadConfig[w1.Event]{
		Stream: "w1", Connection: conn, Logger: testLogger(t),
		EventTime: func(_ kinesisio.Record, e w1.Event) time.Time { return time.UnixMilli(e.Time) },
	})
	require.NoError(t, err)
	splits, err := src.Splits(ctx)
	require.NoError(t, err)
	require.Len(t, splits, 4)
	type win struct {
		key   string
		start int64
	}
	sums := map[win]int64{}
	read := 0
	for _, sp := range splits {
		r := open(t, src, sp.ID, nil)
		var b pipeline.Batch[w1.Event]
		for idle := 0; idle < 1; {
			b.Reset()
			err := r.ReadBatch(ctx, &b, pipeline.Limits{MaxRecords: 1000, MaxWait: 500 * time.Millisecond}) // ≥ PollInterval: an empty batch means caught up
			require.False(t, errors.Is(err, pipeline.ErrEndOfInput), "an open shard does not end")
			require.NoError(t, err)
			require.Empty(t, b.Failures)
			if b.Len() == 0 {
				idle++
			}
			for i, e := range b.Values {
				require.Equal(t, pipeline.Time(e.Time), b.Times[i])
				start := int64(b.Times[i]) / w1.WindowSize * w1.WindowSize
				sums[win{e.Key, start}] += e.Value
				read++
			}
		}
	}
	require.Equal(t, n, read)
	var rows []w1.Row
	for k, s := range sums {
		rows = append(rows, w1.Row{Key: k.key, WindowStart: k.start, Sum: s})
	}
	want, wantRows := w1.PlainLoop(n, false)
	require.Len(t, rows, wantRows)
	require.Equal(t, w1.FormatChecksum(want), w1.FormatChecksum(w1.Checksum(rows)))
}
