package w1

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/pipeline"
)

// The splits together produce every event exactly once, in increasing order per split, and a reader opened at a
// reported position continues right after it.
func TestSourceSplitsCoverEveryEventOnceAndResume(t *testing.T) {
	ctx := context.Background()
	src := Source{N: 1003, Parts: 4}
	splits, err := src.Splits(ctx)
	require.NoError(t, err)
	require.Len(t, splits, 4)
	seen := make([]int, src.N)
	for _, sp := range splits {
		r, err := src.Open(ctx, sp, nil)
		require.NoError(t, err)
		var b pipeline.Batch[Event]
		err = r.ReadBatch(ctx, &b, pipeline.Limits{MaxRecords: 100})
		require.NoError(t, err)
		require.Equal(t, 100, b.Len())
		pos := append([]byte(nil), r.Position()...)
		// Reopen at the position and read the rest.
		r2, err := src.Open(ctx, sp, pos)
		require.NoError(t, err)
		all := append([]Event(nil), b.Values...)
		for {
			b.Reset()
			err := r2.ReadBatch(ctx, &b, pipeline.Limits{MaxRecords: 64})
			all = append(all, b.Values...)
			if errors.Is(err, pipeline.ErrEndOfInput) {
				break
			}
			require.NoError(t, err)
		}
		require.Equal(t, sp.Size, int64(len(all))*EventBytes)
		for _, e := range all {
			found := false
			for i := int64(0); i < src.N; i++ {
				if seen[i] == 0 && Gen(i) == e {
					seen[i]++
					found = true
					break
				}
			}
			require.True(t, found, "event %+v produced twice or not a W1 event", e)
		}
	}
	for i, n := range seen {
		require.Equal(t, 1, n, "event %d", i)
	}
}
