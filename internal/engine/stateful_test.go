package engine

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/exec"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/windowing"
)

// ttlCell expires once the watermark reaches until (what transforms.TTL's values do).
type ttlCell struct{ until pipeline.Time }

func (c ttlCell) ExpireBefore(wm pipeline.Time, _ time.Time) bool { return wm >= c.until }

type discard[T any] struct{}

func (discard[T]) Push(pipeline.Element[T]) error { return nil }

// Expired state is removed in the background, a few keys per Advance, without anyone reading it; a key left with
// nothing goes; a full snapshot leaves expired state out.
func TestStatefulTTLSweep(t *testing.T) {
	op := NewStateful[string, int, string]("S", &windowing.Strategy{}, StatefulFn[string, int, string]{
		Process: func(_ context.Context, kc *KeyContext[string], e pipeline.Element[int], _ *Emitter[string]) error {
			kc.Cells()["v"] = ttlCell{until: pipeline.Time(e.Value)}
			return nil
		}})
	op.SetName("S")
	ex, err := op.NewExchange(1)
	require.NoError(t, err)
	w := &exec.Worker{Index: 0, Count: 1, Ctx: context.Background(), Now: time.Now, Logger: slog.Default()}
	ins, cons, err := ex.Instantiate(w, []any{discard[string]{}})
	require.NoError(t, err)
	in := ins[0].(exec.Pusher[pipeline.KV[string, int]])
	n := 3 * sweepPerAdvance
	for i := range n {
		until := 100 // half the keys expire at 100, half at 1000
		if i%2 == 1 {
			until = 1000
		}
		require.NoError(t, in.Push(pipeline.Element[pipeline.KV[string, int]]{
			Value: pipeline.KV[string, int]{Key: string(rune('a'+i%26)) + string(rune(i)), Value: until}, Window: pipeline.GlobalWindow}))
	}
	require.NoError(t, cons.Process())
	size := cons.(exec.StateSize)
	require.NoError(t, cons.Advance(50, time.Now()))
	require.Equal(t, n, size.StateEntries(), "nothing expired yet")
	require.NoError(t, cons.Advance(500, time.Now()))
	require.Greater(t, size.StateEntries(), n/2, "one Advance checks sweepPerAdvance keys")
	// A pass checks the keys present when it started, so a key seen before it expired waits for the next pass;
	// two passes of n/sweepPerAdvance Advances each see every key after it expired.
	for range 2 * n / sweepPerAdvance {
		require.NoError(t, cons.Advance(500, time.Now()))
	}
	require.Equal(t, n/2, size.StateEntries(), "the keys whose state expired are gone")
	// A full snapshot leaves expired state out, swept or not.
	c := cons.(*stateConsumer[string, int, string])
	c.wm = 2000
	var buf writerCounter
	_, err = c.Snapshot(&buf, true)
	require.NoError(t, err)
	require.Zero(t, size.StateEntries())
}

type writerCounter struct{ n int }

func (w *writerCounter) Write(b []byte) (int, error) { w.n += len(b); return len(b), nil }
