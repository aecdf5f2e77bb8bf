package beam

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/pipeline"
)

// The header carried by side-input and main-input elements round-trips the kappa timestamp and pane, and a
// truncated one is an error, not a panic.
func TestSideInputHeaderRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		t    pipeline.Time
		p    pipeline.Pane
	}{
		{"no firing", 1234, pipeline.NoFiringPane},
		{"early", -5, pipeline.Pane{Index: 3, NonSpeculativeIndex: -1, Timing: pipeline.Early, First: false}},
		{"on time last", pipeline.MaxTime, pipeline.Pane{Index: 7, NonSpeculativeIndex: 2, Timing: pipeline.OnTime, Last: true}},
		{"late", pipeline.MinTime, pipeline.Pane{Index: 1 << 40, NonSpeculativeIndex: 9, Timing: pipeline.Late, First: true, Last: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := append(metaHeader(nil, tc.t, tc.p), "value"...)
			gt, gp, rest, err := readHeader(b)
			require.NoError(t, err)
			require.Equal(t, tc.t, gt)
			require.Equal(t, tc.p, gp)
			require.Equal(t, "value", string(rest))
			for i := range len(b) - len("value") {
				_, _, _, err := readHeader(b[:i])
				require.ErrorIs(t, err, errHeader, "header truncated to %d bytes", i)
			}
		})
	}
}
