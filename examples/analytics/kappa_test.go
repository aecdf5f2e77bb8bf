package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The Kappa demo: the live run over Kafka, which emits each minute's rows while the views are still being
// published, and the batch replay of the Parquet archive give the same rows, which are those of the plain batch
// run of the example.
func TestKappaDemoLiveEqualsReplay(t *testing.T) {
	var out strings.Builder
	o := options{n: 600, seed: 3, minutes: 3, users: 40, workers: 2, kappa: true, out: t.TempDir(), mode: "batch", format: "csv",
		status: "127.0.0.1:0"}
	require.NoError(t, run(context.Background(), o, &out), out.String())
	text := out.String()
	require.Regexp(t, `status page of the live job \(open it while the job runs\): http://127\.0\.0\.1:[0-9]+/`, text)
	require.Contains(t, text, "identical: the live run over Kafka and the replay of the Parquet archive agree on all")
	require.NotContains(t, text, "≠")
	// Rows were emitted live, before the stream went quiet (the first minute closes once the second is read).
	require.Regexp(t, `views 400\.\.599 .* has emitted [1-9][0-9]* rows so far`, text)

	// The same rows as the example's batch table.
	var batch strings.Builder
	o.kappa, o.out = false, t.TempDir()
	require.NoError(t, run(context.Background(), o, &batch))
	for _, line := range strings.Split(batch.String(), "\n") {
		f := strings.Fields(line)
		if len(f) != 5 || !strings.HasPrefix(f[0], "2024-") {
			continue
		}
		// date time url views users → the side-by-side row has views users views users.
		require.Contains(t, text, fmt.Sprintf("%s %s", f[0], f[1]))
		require.Regexp(t, fmt.Sprintf(`%s\s+%s\s+%s\s+%s\s+%s\s+%s\s+%s`, f[1], regexpQuote(f[2]), f[3], f[4], f[3], f[4], ""), text)
	}
}

func regexpQuote(s string) string {
	return strings.NewReplacer(".", `\.`, "/", `/`, "-", `\-`).Replace(s)
}
