package pgio_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/io/pgio"
	"github.com/kappaflow/kappa/pipeline"
)

// openBundles opens a writer as runners/beam does: prepared and committed per bundle, its shard index unique in
// its process only.
func openBundles[T any](t testing.TB, s *pgio.Sink[T], index int) *shardWriter[T] {
	t.Helper()
	w, err := s.Open(t.Context(), pipeline.Shard{Index: index, Count: index + 1, Bundles: true})
	require.NoError(t, err)
	t.Cleanup(func() { w.Close(context.Background()) })
	return &shardWriter[T]{t: t, w: w}
}

// Per-bundle writers (pipeline.Shard.Bundles, as on runners/beam) apply each committed bundle exactly once in Mode
// Add: a bundle that failed after Prepare (its token never committed) adds nothing, its retry on another writer
// adds its rows once however often its token is committed — also by another writer, and with the same shard index
// and bundle number in two "processes" — and concurrent bundles of equal shard index do not block each other. The
// failed bundle's staged rows and ledger row are deleted after StagedTTL; a Commit of its token then fails.
func TestBundlesAreAppliedExactlyOnce(t *testing.T) {
	dsn := newDB(t)
	execSQL(t, dsn, countsTable)
	sink := newSink(t, pgio.Config[Count]{DSN: dsn, Table: "counts", JobID: "j", Mode: pgio.Add, StagedTTL: time.Second, BatchRows: 2})

	// Process 1's writer 0: bundle 0 fails after Prepare.
	failed := openBundles(t, sink, 0)
	failed.write(cnt("ann", 0, 1, "a"), cnt("bob", 0, 2, "a"), cnt("cid", 0, 3, "a"))
	failedTok := failed.prepare(0)
	require.NotNil(t, failedTok)
	// Process 2's writer 0 retries it (same shard index, same bundle number) while process 1's writer 0 is alive.
	retry := openBundles(t, sink, 0)
	retry.write(cnt("ann", 0, 1, "a"), cnt("bob", 0, 2, "a"), cnt("cid", 0, 3, "a"))
	tok := retry.prepare(0)
	require.Empty(t, rows(t, dsn, selectCounts), "Prepare publishes nothing")
	retry.commit(tok)
	retry.commit(tok)
	other := openBundles(t, sink, 7)
	other.commit(tok) // another writer commits the token again
	// The retry writer's next bundle, with a key of the first.
	retry.write(cnt("ann", 0, 10, "b"), cnt("dan", 1, 4, "b"))
	retry.commit(retry.prepare(1))
	empty := openBundles(t, sink, 8)
	require.Nil(t, empty.prepare(0), "an empty bundle has no token")
	empty.commit(nil)

	want := []string{line("ann", 0, 11, "b"), line("bob", 0, 2, "a"), line("cid", 0, 3, "a"), line("dan", 1, 4, "b")}
	require.Equal(t, want, rows(t, dsn, selectCounts))
	require.Equal(t, []string{"1"}, rows(t, dsn, "SELECT count(*) FROM kappa_pgio_commits_bundles WHERE committed_at IS NULL"),
		"only the failed bundle's batch is uncommitted in the ledger")

	// Once StagedTTL has passed, the next new batch of any writer deletes the failed bundle's rows.
	time.Sleep(1200 * time.Millisecond)
	late := openBundles(t, sink, 9)
	late.write(cnt("eve", 2, 1, "c"))
	late.commit(late.prepare(0))
	require.Equal(t, append(want, line("eve", 2, 1, "c")), rows(t, dsn, selectCounts))
	require.Equal(t, []string{"0"}, rows(t, dsn, "SELECT count(*) FROM kappa_pgio_commits_bundles WHERE committed_at IS NULL"))
	staged := rows(t, dsn, "SELECT tablename FROM pg_tables WHERE tablename LIKE 'kappa_stage_%'")
	require.Len(t, staged, 1, "one staging table shared by the job's bundle writers")
	require.Equal(t, []string{"0"}, rows(t, dsn, "SELECT count(*) FROM "+staged[0]))
	err := failed.w.Commit(t.Context(), failedTok)
	require.ErrorIs(t, err, pgio.ErrBundleExpired)
	require.ErrorIs(t, err, pgio.ErrStagingLost)
	require.Equal(t, append(want, line("eve", 2, 1, "c")), rows(t, dsn, selectCounts), "the expired bundle added nothing")
}

// A bundle writer's Commit may come after Close (Beam calls bundle finalization when it likes): it connects again,
// applies the batch and does not keep the connection.
func TestBundleCommitAfterClose(t *testing.T) {
	dsn := newDB(t)
	execSQL(t, dsn, countsTable)
	sink := newSink(t, pgio.Config[Count]{DSN: dsn, Table: "counts", JobID: "j"})
	w := openBundles(t, sink, 0)
	w.write(cnt("ann", 0, 1, "a"))
	tok := w.prepare(0)
	w.close()
	w.commit(tok)
	require.Equal(t, []string{line("ann", 0, 1, "a")}, rows(t, dsn, selectCounts))
	require.Equal(t, []string{"0"}, rows(t, dsn, "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'kappa pgio%'"))
}

// The sink commits in bundle finalization on runners/beam.
func TestSinkCommitsOnBundleFinalization(t *testing.T) {
	sink := newSink(t, pgio.Config[Count]{DSN: "postgres://127.0.0.1:1/x", Table: "counts"})
	require.True(t, sink.CommitsOnBundleFinalization())
	_, err := pgio.NewSink(pgio.Config[Count]{DSN: "postgres://127.0.0.1:1/x", Table: "counts", StagedTTL: -time.Second})
	require.ErrorContains(t, err, "Config.StagedTTL -1s is negative")
}
