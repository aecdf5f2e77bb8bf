package main

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/testsvc/pgtest"
)

// The Kappa demo end to end (make demo): Avro page views through the Schema Registry, joined with the compacted
// urls table topic, counted per minute, URL and category live over Kafka and upserted into a private PostgreSQL
// exactly once, and replayed in batch from the Parquet archive. The live rows, the replayed rows and the
// PostgreSQL table are all equal to a plain-Go computation over the same views and table history, and rows were
// emitted while the views were still being published.
func TestKappaDemoEndToEnd(t *testing.T) {
	_, pgErr := pgtest.BinDir()
	if pgErr != nil && os.Getenv("KAPPA_REQUIRE_SERVICES") == "1" {
		t.Fatalf("%v (KAPPA_REQUIRE_SERVICES=1)", pgErr)
	}
	t0 := time.Now()
	var out strings.Builder
	o := options{n: 1200, seed: 3, minutes: 4, users: 40, workers: 2, kappa: true, out: t.TempDir(), mode: "batch", format: "csv",
		status: "127.0.0.1:0"}
	require.NoError(t, run(context.Background(), o, &out), out.String())
	text := out.String()
	t.Logf("demo took %v", time.Since(t0))
	require.Regexp(t, `status page of the live job \(open it while the job runs\): http://127\.0\.0\.1:[0-9]+/`, text)
	require.Contains(t, text, "identical: the live run over Kafka and the replay of the Parquet archive agree on all")
	require.NotContains(t, text, "≠")
	// Rows were emitted live, before the stream went quiet: minute 1 closes once minute 2 is read, and the urls
	// table, idle after its changes were read, does not hold the join back.
	require.Regexp(t, `views 600\.\.899 .* has emitted [1-9][0-9]* rows so far`, text)
	// The live job checkpoints every epoch, its state included (the join's table and the viewAcc accumulators,
	// encoded by the coder).
	require.Regexp(t, `stopped: [0-9]+ rows \([^)]*\); [1-9][0-9]* checkpoints written \(the last one [1-9][0-9]* bytes\)`, text)
	if pgErr == nil {
		require.Contains(t, text, "PostgreSQL: started a private cluster")
		require.Regexp(t, `identical: the PostgreSQL table page_views_per_minute holds exactly these [0-9]+ rows`, text)
	} else {
		require.Contains(t, text, "PostgreSQL: not installed, so the rows are printed, not stored")
	}

	// Every row of the plain-Go computation is printed, live and replayed; nothing else is.
	gen := Generator{N: o.n, Seed: o.seed, Start: start, Span: time.Duration(o.minutes) * time.Minute, Users: o.users, Parts: 1}
	var views []PageView
	for i := range gen.N {
		views = append(views, gen.View(i))
	}
	want := plainEnriched(views, URLChanges(start))
	require.Contains(t, text, fmt.Sprintf("agree on all %d rows", len(want)))
	for _, r := range want {
		line := fmt.Sprintf(`(?m)^%s\s+%s\s+%s\s+%d\s+%d\s+%d\s+%d$`, r.Minute.Format("2006-01-02 15:04"),
			regexp.QuoteMeta(r.URL), regexp.QuoteMeta(r.Category), r.Views, r.UniqueUsers, r.Views, r.UniqueUsers)
		require.Regexp(t, line, text)
	}
}

// -pg off runs the demo without a database and says so.
func TestKappaDemoWithoutPostgres(t *testing.T) {
	var out strings.Builder
	o := options{n: 200, seed: 5, minutes: 2, users: 10, workers: 1, kappa: true, out: t.TempDir(), mode: "batch", format: "csv", pg: "off"}
	require.NoError(t, run(context.Background(), o, &out), out.String())
	require.Contains(t, out.String(), "PostgreSQL: off (-pg off): the rows are printed, not stored")
	require.Contains(t, out.String(), "identical: the live run over Kafka and the replay of the Parquet archive agree on all")
	require.NotContains(t, out.String(), "PostgreSQL table")
}
