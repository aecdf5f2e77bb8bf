package pgio_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/testsvc/pgtest"
	"github.com/kappaflow/kappa/io/pgio"
	"github.com/kappaflow/kappa/pipeline"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// newDB returns the DSN of a fresh database on the shared cluster.
func newDB(t testing.TB) string {
	t.Helper()
	return pgtest.Shared(t).NewDatabase(t)
}

func connect(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func execSQL(t testing.TB, dsn string, sqls ...string) {
	t.Helper()
	conn := connect(t, dsn)
	for _, sql := range sqls {
		_, err := conn.Exec(context.Background(), sql)
		require.NoError(t, err, sql)
	}
}

// rows returns the result of a query, one line per row, values separated by spaces.
func rows(t testing.TB, dsn, sql string) []string {
	t.Helper()
	conn := connect(t, dsn)
	rs, err := conn.Query(context.Background(), sql)
	require.NoError(t, err, sql)
	var out []string
	for rs.Next() {
		vals, err := rs.Values()
		require.NoError(t, err)
		parts := make([]string, len(vals))
		for i, v := range vals {
			if tm, ok := v.(time.Time); ok {
				parts[i] = tm.UTC().Format(time.RFC3339)
			} else {
				parts[i] = fmt.Sprint(v)
			}
		}
		out = append(out, strings.Join(parts, " "))
	}
	require.NoError(t, rs.Err())
	return out
}

// shardWriter drives one shard writer of a sink as the runner does.
type shardWriter[T any] struct {
	t testing.TB
	w pipeline.SinkWriter[T]
}

func open[T any](t testing.TB, s *pgio.Sink[T], shard, count int) *shardWriter[T] {
	t.Helper()
	w, err := s.Open(t.Context(), pipeline.Shard{Index: shard, Count: count})
	require.NoError(t, err)
	t.Cleanup(func() { w.Close(context.Background()) })
	return &shardWriter[T]{t: t, w: w}
}

func (sw *shardWriter[T]) write(vals ...T) {
	sw.t.Helper()
	elems := make([]pipeline.Element[T], len(vals))
	for i, v := range vals {
		elems[i] = pipeline.Element[T]{Value: v, Window: pipeline.GlobalWindow}
	}
	require.NoError(sw.t, sw.w.Write(sw.t.Context(), elems))
}

func (sw *shardWriter[T]) prepare(epoch uint64) []byte {
	sw.t.Helper()
	tok, err := sw.w.Prepare(sw.t.Context(), pipeline.Epoch{ID: epoch})
	require.NoError(sw.t, err)
	return tok
}

func (sw *shardWriter[T]) commit(tok []byte) {
	sw.t.Helper()
	require.NoError(sw.t, sw.w.Commit(sw.t.Context(), tok))
}

func (sw *shardWriter[T]) close() {
	sw.t.Helper()
	require.NoError(sw.t, sw.w.Close(context.Background()))
}

func newSink[T any](t testing.TB, cfg pgio.Config[T]) *pgio.Sink[T] {
	t.Helper()
	s, err := pgio.NewSink(cfg)
	require.NoError(t, err)
	return s
}
