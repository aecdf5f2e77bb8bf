package pgio_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/io/pgio"
)

// Count is a per-key, per-minute count, as a windowed aggregation outputs it.
type Count struct {
	User   string    `pg:"user_name,key"`
	Minute time.Time `pg:",key"`
	Views  int64     `pg:",add"`
	Last   string    // replaced in both modes
	Skip   int       `pg:"-"`
}

const countsTable = `CREATE TABLE counts (user_name text, minute timestamptz, views bigint NOT NULL, last text NOT NULL,
	PRIMARY KEY (user_name, minute))`

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func cnt(user string, minute int, views int64, last string) Count {
	return Count{User: user, Minute: t0.Add(time.Duration(minute) * time.Minute), Views: views, Last: last}
}

func line(user string, minute int, views int64, last string) string {
	return user + " " + t0.Add(time.Duration(minute)*time.Minute).Format(time.RFC3339) + " " + strconv.FormatInt(views, 10) + " " + last
}

const selectCounts = "SELECT user_name, minute, views, last FROM counts ORDER BY user_name, minute"

// The runner's protocol, as io/iotest's sink check drives it: two shards over epochs, Commit twice, a crash
// between Prepare and Commit recovered by a new writer committing the token, a replayed epoch whose token was
// lost, and a writer closed before Prepare. Every committed row is in the table once, in both modes.
func TestEpochProtocolIsExactlyOnce(t *testing.T) {
	for _, tc := range []struct {
		mode pgio.Mode
		want []string
	}{
		{pgio.Replace, []string{line("ann", 0, 3, "e2"), line("ann", 1, 5, "e1"), line("bob", 0, 7, "e1"), line("cid", 0, 9, "e2")}},
		{pgio.Add, []string{line("ann", 0, 4, "e2"), line("ann", 1, 5, "e1"), line("bob", 0, 9, "e1"), line("cid", 0, 9, "e2")}},
	} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			dsn := newDB(t)
			exec(t, dsn, countsTable)
			sink := newSink(t, pgio.Config[Count]{DSN: dsn, Table: "counts", JobID: "j", Mode: tc.mode})
			w0, w1 := open(t, sink, 0, 2), open(t, sink, 1, 2)

			// Epoch 0: both shards write, prepare, commit, and commit again.
			w0.write(cnt("ann", 0, 1, "e0"))
			w1.write(cnt("bob", 0, 2, "e0"))
			t0, t1 := w0.prepare(0), w1.prepare(0)
			for range 2 {
				w0.commit(t0)
				w1.commit(t1)
			}
			// Epoch 1: shard 0 crashes after Prepare; its successor commits the token from the checkpoint.
			w0.write(cnt("ann", 1, 5, "e1"))
			lost := w0.prepare(1)
			w0.close()
			w0 = open(t, sink, 0, 2)
			w0.commit(lost)
			w0.commit(lost)
			w1.write(cnt("bob", 0, 7, "e1"))
			w1.commit(w1.prepare(1))

			// Epoch 2: shard 0 prepares, then crashes before the checkpoint holds its token: the epoch is replayed
			// by a new writer. Shard 1 crashes before Prepare: what it wrote is discarded.
			w0.write(cnt("ann", 0, 100, "lost"), cnt("zed", 0, 1, "lost"))
			w0.prepare(2)
			w0.close()
			w0 = open(t, sink, 0, 2)
			w0.write(cnt("ann", 0, 3, "e2"), cnt("cid", 0, 9, "e2"))
			w0.commit(w0.prepare(2))
			w1.write(cnt("bob", 0, 1000, "lost"))
			w1.close()
			w0.close()

			require.Equal(t, tc.want, rows(t, dsn, selectCounts))
			require.Equal(t, []string{"0 2", "1 1"}, rows(t, dsn, "SELECT shard, epoch FROM kappa_pgio_commits ORDER BY shard"))
		})
	}
}
