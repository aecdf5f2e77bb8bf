package pgio_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/testsvc/pgtest"
	"github.com/kappaflow/kappa/io/pgio"
	"github.com/kappaflow/kappa/pipeline"
)

// A row the server rejects, or that cannot be encoded for its column, fails the epoch with a *RowError naming the
// row's key, at Prepare (or at the Write that copies a full chunk); nothing of the epoch reaches the table, and
// the replayed epoch without the row commits.
func TestRejectedRowNamesItsKey(t *testing.T) {
	type Row struct {
		User  string `pg:"user_name,key"`
		Views int64  `pg:"views"`
		Note  *string
	}
	note := "n"
	for _, tc := range []struct {
		name      string
		bad       Row
		batchRows int
		want      string
	}{
		{"check constraint", Row{User: "bob", Views: -1, Note: &note}, 0, `violates check constraint "views_nonnegative"`},
		{"out of range for integer", Row{User: "bob", Views: 1 << 40, Note: &note}, 0, "greater than maximum value for int4"},
		{"not null", Row{User: "bob", Views: 1}, 0, `null value in column "note"`},
		{"at a Write's chunk copy", Row{User: "bob", Views: -1, Note: &note}, 1, `violates check constraint "views_nonnegative"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dsn := newDB(t)
			execSQL(t, dsn, `CREATE TABLE v (user_name text PRIMARY KEY, views integer CONSTRAINT views_nonnegative CHECK (views >= 0), note text NOT NULL)`)
			sink := newSink(t, pgio.Config[Row]{DSN: dsn, Table: "v", BatchRows: tc.batchRows})
			w := open(t, sink, 0, 1)
			good := Row{User: "ann", Views: 1, Note: &note}
			err := w.w.Write(t.Context(), []pipeline.Element[Row]{{Value: good}, {Value: tc.bad}})
			if err == nil {
				_, err = w.w.Prepare(t.Context(), pipeline.Epoch{ID: 0})
			}
			require.Error(t, err)
			var re *pgio.RowError
			require.ErrorAs(t, err, &re, "%v", err)
			require.Equal(t, "(user_name=bob)", re.Key)
			require.Contains(t, err.Error(), "pgio: table v: ")
			require.Contains(t, err.Error(), "row with key (user_name=bob) rejected")
			require.Contains(t, err.Error(), tc.want)
			if tc.batchRows == 0 {
				require.Contains(t, err.Error(), "epoch 0")
			}
			w.close()
			require.Empty(t, rows(t, dsn, "SELECT * FROM v"))

			w = open(t, sink, 0, 1)
			w.write(good)
			w.commit(w.prepare(0))
			require.Equal(t, []string{"ann 1 n"}, rows(t, dsn, "SELECT * FROM v"))
		})
	}
}

// A row only the table can reject (here by a second unique index) fails the epoch with the server's detail, which
// names the key: at Prepare, which applies the rows in a transaction left open for Commit; or, when the apply is
// left to Commit (a restarted run committing a checkpoint's token), at Commit, where the epoch is not applied and
// the marker stays, so that a retry after the table is fixed commits it.
func TestRejectedByTheTable(t *testing.T) {
	dsn := newDB(t)
	execSQL(t, dsn, countsTable, "CREATE UNIQUE INDEX counts_last ON counts (last)")
	sink := newSink(t, pgio.Config[Count]{DSN: dsn, Table: "counts"})
	w := open(t, sink, 0, 1)
	w.write(cnt("ann", 0, 1, "x"))
	w.commit(w.prepare(0))

	w.write(cnt("bob", 0, 2, "x"), cnt("cid", 0, 3, "y"))
	_, err := w.w.Prepare(t.Context(), pipeline.Epoch{ID: 1})
	require.Error(t, err)
	require.Contains(t, err.Error(), "pgio: table counts: shard 0: epoch 1: applying 2 staged rows failed")
	require.Contains(t, err.Error(), "Key (last)=(x) already exists")
	require.Contains(t, err.Error(), "the epoch fails before its checkpoint")
	var pe *pgconn.PgError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "23505", pe.Code)
	w.close()

	// The replayed epoch prepares fine; the process dies before Commit; a row with the same "last" arrives
	// meanwhile; the restarted run's Commit of the token fails, and succeeds once the table is fixed.
	w = open(t, sink, 0, 1)
	w.write(cnt("bob", 0, 2, "z"), cnt("cid", 0, 3, "y"))
	tok := w.prepare(1)
	w.close()
	execSQL(t, dsn, "INSERT INTO counts VALUES ('dan', '2024-05-01T12:00:00Z', 9, 'z')")
	w = open(t, sink, 0, 1)
	err = w.w.Commit(t.Context(), tok)
	require.Error(t, err)
	require.Contains(t, err.Error(), "pgio: table counts: shard 0: epoch 1: applying 2 staged rows failed")
	require.Contains(t, err.Error(), "Key (last)=(z) already exists")
	require.Contains(t, err.Error(), "the epoch's token is in the checkpoint")
	require.Equal(t, []string{line("ann", 0, 1, "x"), line("dan", 0, 9, "z")}, rows(t, dsn, selectCounts))

	execSQL(t, dsn, "DROP INDEX counts_last")
	w.commit(tok)
	require.Equal(t, []string{line("ann", 0, 1, "x"), line("bob", 0, 2, "z"), line("cid", 0, 3, "y"), line("dan", 0, 9, "z")},
		rows(t, dsn, selectCounts))
}

// Two shards writing the same key in one epoch: the second shard's early apply waits for the first one's open
// transaction no longer than its lock timeout and leaves the apply to Commit; commits in shard order decide.
func TestShardsWritingOneKey(t *testing.T) {
	dsn := newDB(t)
	execSQL(t, dsn, countsTable)
	var logs logBuffer
	sink := newSink(t, pgio.Config[Count]{DSN: dsn, Table: "counts", Mode: pgio.Add, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	w0, w1 := open(t, sink, 0, 2), open(t, sink, 1, 2)
	for e := range uint64(3) {
		w0.write(cnt("ann", 0, 1, "s0"))
		w1.write(cnt("ann", 0, 10, "s1"))
		t0, t1 := w0.prepare(e), w1.prepare(e)
		w0.commit(t0)
		w1.commit(t1)
	}
	require.Equal(t, []string{line("ann", 0, 33, "s1")}, rows(t, dsn, selectCounts))
	require.Contains(t, logs.String(), "is locked by another transaction (another shard writing the same key, or another writer of the table); applying at Commit from now on")
}

// terminate ends the server connections of the sink's shards (as a server restart or a network cut would).
func terminate(t *testing.T, dsn string) int {
	t.Helper()
	var n int
	conn := connect(t, dsn)
	require.NoError(t, conn.QueryRow(t.Context(),
		"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name LIKE 'kappa pgio %'").Scan(&n))
	return n
}

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Connections lost between and during the steps of an epoch are retried on new connections: every epoch is
// applied once.
func TestConnectionLossIsRetried(t *testing.T) {
	dsn := newDB(t)
	execSQL(t, dsn, countsTable)
	var logs logBuffer
	sink := newSink(t, pgio.Config[Count]{DSN: dsn, Table: "counts", Mode: pgio.Add, BatchRows: 2,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	w := open(t, sink, 0, 1)
	for epoch := range uint64(4) {
		w.write(cnt("ann", 0, 1, "a"), cnt("bob", 0, 1, "a"))
		require.Equal(t, 1, terminate(t, dsn), "after a chunk's copy") // BatchRows 2: the Write copied a chunk
		w.write(cnt("ann", 0, 1, "a"))
		tok := w.prepare(epoch)
		require.Equal(t, 1, terminate(t, dsn), "between Prepare and Commit")
		w.commit(tok)
		w.commit(tok)
	}
	require.Equal(t, []string{line("ann", 0, 8, "a"), line("bob", 0, 4, "a")}, rows(t, dsn, selectCounts))
	require.Contains(t, logs.String(), "pgio: database unreachable; retrying")
}

// With the server down longer than RetryTimeout, the epoch fails with an error naming the table and the epoch;
// once the server is back, the replayed epoch commits.
func TestServerDownGivesUp(t *testing.T) {
	srv := pgtest.Start(t)
	dsn := srv.NewDatabase(t)
	execSQL(t, dsn, countsTable)
	sink := newSink(t, pgio.Config[Count]{DSN: dsn, Table: "counts", RetryTimeout: time.Second,
		Logger: slog.New(slog.DiscardHandler)})
	w := open(t, sink, 0, 1)
	w.write(cnt("ann", 0, 1, "a"))
	w.commit(w.prepare(0))

	require.NoError(t, srv.Stop())
	w.write(cnt("ann", 0, 2, "b"))
	start := time.Now()
	_, err := w.w.Prepare(t.Context(), pipeline.Epoch{ID: 1})
	require.Error(t, err)
	require.Less(t, time.Since(start), 10*time.Second)
	require.Contains(t, err.Error(), "pgio: table counts: shard 0: epoch 1: stage rows: gave up after")
	require.Contains(t, err.Error(), "(Config.RetryTimeout 1s)")
	w.close()

	require.NoError(t, srv.Resume())
	w = open(t, sink, 0, 1)
	w.write(cnt("ann", 0, 2, "b"))
	w.commit(w.prepare(1))
	require.Equal(t, []string{line("ann", 0, 2, "b")}, rows(t, dsn, selectCounts))
}

// A run restored from a checkpoint older than the markers (an old savepoint, lost checkpoints) is refused at its
// first Prepare; a run from scratch (epoch 0) forgets the markers.
func TestOlderEpochIsRefused(t *testing.T) {
	dsn := newDB(t)
	execSQL(t, dsn, countsTable)
	sink := newSink(t, pgio.Config[Count]{DSN: dsn, Table: "counts", JobID: "job1", Mode: pgio.Add})
	w := open(t, sink, 0, 1)
	for e := range uint64(4) {
		w.write(cnt("ann", 0, 1, "a"))
		w.commit(w.prepare(e))
	}
	w.close()

	w = open(t, sink, 0, 1)
	w.write(cnt("ann", 0, 1, "a"))
	_, err := w.w.Prepare(t.Context(), pipeline.Epoch{ID: 2})
	require.ErrorIs(t, err, pgio.ErrEpochCommitted)
	require.Contains(t, err.Error(), `job "job1" already committed epoch 3 to this table`)
	w.close()

	// Another job's markers are its own.
	other := newSink(t, pgio.Config[Count]{DSN: dsn, Table: "counts", JobID: "job2", Mode: pgio.Add})
	w = open(t, other, 0, 1)
	w.write(cnt("bob", 0, 1, "a"))
	w.commit(w.prepare(2))
	w.close()

	w = open(t, sink, 0, 1)
	w.write(cnt("ann", 0, 10, "a"))
	w.commit(w.prepare(0)) // from scratch
	w.write(cnt("ann", 0, 10, "a"))
	w.commit(w.prepare(1))
	require.Equal(t, []string{line("ann", 0, 24, "a"), line("bob", 0, 1, "a")}, rows(t, dsn, selectCounts))
	require.Equal(t, []string{"job1 1", "job2 2"}, rows(t, dsn, "SELECT job, epoch FROM kappa_pgio_commits ORDER BY job"))
}

// One connection writes a shard: a second writer of the same job and shard (another process running the job)
// waits for the first one's lock and gives up with a clear error.
func TestShardIsLocked(t *testing.T) {
	dsn := newDB(t)
	execSQL(t, dsn, countsTable)
	cfg := pgio.Config[Count]{DSN: dsn, Table: "counts", JobID: "j", RetryTimeout: 500 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}
	first := open(t, newSink(t, cfg), 0, 1)
	_, err := newSink(t, cfg).Open(t.Context(), pipeline.Shard{Index: 0, Count: 1})
	require.ErrorContains(t, err, "another connection holds the shard's lock")
	require.ErrorContains(t, err, "pgio: table counts: shard 0: open shard 0: gave up after")
	first.close()
	second := open(t, newSink(t, cfg), 0, 1)
	second.close()
}

// Open checks the table: it must exist (or CreateTable), hold every mapped column, have a unique index on the
// key columns, and have no unmapped NOT NULL column without a default.
func TestTableChecks(t *testing.T) {
	dsn := newDB(t)
	for _, tc := range []struct {
		name, ddl, want string
	}{
		{"missing", "", "table counts does not exist (create it, or set Config.CreateTable)"},
		{"no unique index", "CREATE TABLE counts (user_name text, minute timestamptz, views bigint, last text)",
			"table counts has no primary key or unique index on exactly the key columns (minute, user_name)"},
		{"other unique index", "CREATE TABLE counts (user_name text PRIMARY KEY, minute timestamptz, views bigint, last text)",
			"no primary key or unique index on exactly the key columns"},
		{"missing column", "CREATE TABLE counts (user_name text, minute timestamptz, views bigint, PRIMARY KEY (user_name, minute))",
			`column "last" is not in the table`},
		{"unmapped not null", "CREATE TABLE counts (user_name text, minute timestamptz, views bigint, last text, region text NOT NULL, PRIMARY KEY (user_name, minute))",
			`column "region" is NOT NULL without a default but not mapped`},
		{"generated", "CREATE TABLE counts (user_name text, minute timestamptz, views bigint, last text GENERATED ALWAYS AS ('x') STORED, PRIMARY KEY (user_name, minute))",
			`column "last" is generated and cannot be written`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			execSQL(t, dsn, "DROP TABLE IF EXISTS counts")
			if tc.ddl != "" {
				execSQL(t, dsn, tc.ddl)
			}
			_, err := newSink(t, pgio.Config[Count]{DSN: dsn, Table: "counts", RetryTimeout: -1}).Open(t.Context(), pipeline.Shard{Index: 0, Count: 1})
			require.ErrorContains(t, err, tc.want)
		})
	}
	// Defaults and unmapped nullable columns are fine.
	execSQL(t, dsn, "DROP TABLE counts", "CREATE TABLE counts (id serial, user_name text, minute timestamptz, views bigint, last text, "+
		"region text NOT NULL DEFAULT 'eu', PRIMARY KEY (user_name, minute))")
	w := open(t, newSink(t, pgio.Config[Count]{DSN: dsn, Table: "counts"}), 0, 1)
	w.write(cnt("ann", 0, 1, "a"))
	w.commit(w.prepare(0))
	require.Equal(t, []string{"1 ann eu"}, rows(t, dsn, "SELECT id, user_name, region FROM counts"))
}

// Invalid configurations are refused by NewSink, every problem at once, without I/O.
func TestConfigErrors(t *testing.T) {
	type NoKey struct{ A int }
	type PtrKey struct {
		A *int `pg:",key"`
	}
	type BadAdd struct {
		K string `pg:",key"`
		S string `pg:",add"`
	}
	type BadTag struct {
		K string `pg:",primary"`
	}
	for _, tc := range []struct {
		name string
		err  error
		want []string
	}{
		{"empty", func() error { _, err := pgio.NewSink(pgio.Config[Count]{}); return err }(),
			[]string{"Config.DSN is empty", "Config.Table: empty"}},
		{"bad table", func() error {
			_, err := pgio.NewSink(pgio.Config[Count]{DSN: "postgres://x", Table: "a.b.c"})
			return err
		}(),
			[]string{`Config.Table: "a.b.c" is not NAME or SCHEMA.NAME`}},
		{"add in replace mode", func() error {
			_, err := pgio.NewSink(pgio.Config[Count]{DSN: "postgres://x", Table: "t", Add: []string{"views"}})
			return err
		}(), []string{"Config.Add [views] is set but Mode is Replace"}},
		{"columns without row", func() error {
			_, err := pgio.NewSink(pgio.Config[Count]{DSN: "postgres://x", Table: "t", Columns: []string{"a"}})
			return err
		}(), []string{"Config.Columns and Config.Row go together"}},
		{"bad dsn", func() error {
			_, err := pgio.NewSink(pgio.Config[Count]{DSN: "host=x port=notaport", Table: "t"})
			return err
		}(),
			[]string{"pgio: Config.DSN:"}},
		{"no key", func() error { _, err := pgio.NewSink(pgio.Config[NoKey]{DSN: "postgres://x", Table: "t"}); return err }(),
			[]string{"no key columns"}},
		{"unknown key", func() error {
			_, err := pgio.NewSink(pgio.Config[Count]{DSN: "postgres://x", Table: "t", Key: []string{"nope"}})
			return err
		}(), []string{`Config.Key names column "nope", which is not mapped (columns: user_name, minute, views, last)`}},
		{"pointer key", func() error { _, err := pgio.NewSink(pgio.Config[PtrKey]{DSN: "postgres://x", Table: "t"}); return err }(),
			[]string{`key column "a" comes from a pointer field`}},
		{"add of a string", func() error {
			_, err := pgio.NewSink(pgio.Config[BadAdd]{DSN: "postgres://x", Table: "t", Mode: pgio.Add})
			return err
		}(), []string{`Add column "s" has type string`}},
		{"add mode without add columns", func() error {
			_, err := pgio.NewSink(pgio.Config[NoKey]{DSN: "postgres://x", Table: "t", Mode: pgio.Add, Key: []string{"a"}})
			return err
		}(), []string{"Mode Add but no Add columns"}},
		{"unknown tag option", func() error { _, err := pgio.NewSink(pgio.Config[BadTag]{DSN: "postgres://x", Table: "t"}); return err }(),
			[]string{`unknown pg tag option "primary"`}},
		{"not a struct", func() error { _, err := pgio.NewSink(pgio.Config[int]{DSN: "postgres://x", Table: "t"}); return err }(),
			[]string{"int is not a struct: map it with Config.Columns and Config.Row"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Error(t, tc.err)
			for _, w := range tc.want {
				require.Contains(t, tc.err.Error(), w)
			}
		})
	}
	// Write records a config error on the pipeline.
	p := pipeline.New()
	s := p.Root()
	Write := pgio.Write[int]
	Write(s, pipeline.PCollection[int]{}, pgio.Config[int]{})
	require.Error(t, p.Err())
	require.True(t, strings.Contains(p.Err().Error(), "Config.DSN is empty"), p.Err())
}
