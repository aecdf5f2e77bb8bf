package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/testsvc/s3test"
	"github.com/kappaflow/kappa/internal/w1"
	"github.com/kappaflow/kappa/jobcli"
)

func runLine(t *testing.T, o options) string {
	t.Helper()
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), o, &out))
	return strings.TrimSpace(out.String())
}

func checksumOf(line string) string {
	for _, f := range strings.Fields(line) {
		if strings.HasPrefix(f, "checksum=") {
			return f
		}
	}
	return ""
}

// W1 written as Parquet (locally and to S3 over loopback) and read back with -from gives the checksum of W1
// generated in memory, in batch and stream mode; -to writes the rows, and -check-output finds the same checksum
// in them.
func TestW1ThroughParquet(t *testing.T) {
	const n = 300_000
	sum, _ := w1.PlainLoop(n, false)
	want := "checksum=" + w1.FormatChecksum(sum)
	require.Equal(t, want, checksumOf(runLine(t, options{n: n, job: jobcli.Flags{Mode: "batch"}, window: "fixed"})))

	srv := s3test.Start(t)
	local := t.TempDir()
	for _, dst := range []struct{ name, events, rows string }{
		{"local", filepath.Join(local, "events"), filepath.Join(local, "rows")},
		{"s3", srv.URL("w1/events/"), srv.URL("w1/rows/")},
	} {
		t.Run(dst.name, func(t *testing.T) {
			base := options{job: jobcli.Flags{S3Endpoint: srv.Config.Endpoint, Workers: 2}, window: "fixed"}
			o := base
			o.n, o.writeParquet, o.job.Mode = n, dst.events, "batch"
			require.Contains(t, runLine(t, o), fmt.Sprintf("events=%d wrote=%s", n, dst.events))
			for _, mode := range []string{"batch", "stream"} {
				o := base
				o.from, o.job.Mode, o.to = dst.events, mode, dst.rows+mode+"/"
				line := runLine(t, o)
				require.Equal(t, want, checksumOf(line), "%s %s: %s", dst.name, mode, line)
				require.Contains(t, line, fmt.Sprintf("events=%d ", n))
				o = base
				o.checkOutput = dst.rows + mode + "/"
				require.Equal(t, want, checksumOf(runLine(t, o)))
			}
		})
	}
}
