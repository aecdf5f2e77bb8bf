package main

import (
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/w1"
)

// -runner prism gives W1's checksum; options a Beam run does not support are refused.
func TestRunnerPrismPrintsW1Checksum(t *testing.T) {
	o, err := parseFlags([]string{"-runner", "prism", "-n", "50000"}, io.Discard)
	require.NoError(t, err)
	res, err := runKappa(context.Background(), o)
	require.NoError(t, err)
	want, rows := w1.PlainLoop(50000, false)
	require.Equal(t, w1.FormatChecksum(want), w1.FormatChecksum(res.checksum))
	require.Equal(t, int64(rows), res.rows)

	_, err = parseFlags([]string{"-runner", "prism", "-checkpoint", t.TempDir()}, io.Discard)
	require.ErrorContains(t, err, "-runner prism runs generated W1 in batch mode only")
	_, err = parseFlags([]string{"-runner", "nimbus"}, io.Discard)
	require.ErrorContains(t, err, `-runner "nimbus"`)
}
