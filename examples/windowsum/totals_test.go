package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/w1"
	"github.com/kappaflow/kappa/jobcli"
)

// W1-totals (one global window, many keys): batch, stream with early panes every few milliseconds, and both under
// a small state budget all print the plain loop's checksum.
func TestW1Totals(t *testing.T) {
	const n, keys = 100_000, 100_000
	sum, rows := w1.PlainLoopTotals(n, keys)
	want := fmt.Sprintf("rows=%d checksum=%s", rows, w1.FormatChecksum(sum))
	for _, tc := range []struct {
		name string
		o    options
	}{
		{"batch", options{job: jobcli.Flags{Mode: "batch"}}},
		{"stream", options{job: jobcli.Flags{Mode: "stream"}, every: 5 * time.Millisecond, batch: 2000}},
		{"batch spilled", options{job: jobcli.Flags{Mode: "batch"}, stateMemory: 4 << 20}},
		{"stream spilled", options{job: jobcli.Flags{Mode: "stream"}, every: 20 * time.Millisecond, batch: 2000, stateMemory: 4 << 20}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			o.n, o.keys, o.window, o.job.Workers, o.job.Epoch, o.stopIdle = n, keys, "global", 2, time.Second, time.Second
			var out strings.Builder
			require.NoError(t, run(context.Background(), o, &out))
			require.Contains(t, out.String(), want, "%s", out.String())
		})
	}
}
