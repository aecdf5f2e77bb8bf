package pgtest_test

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/testsvc/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func query(t *testing.T, dsn, sql string) string {
	t.Helper()
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var s string
	require.NoError(t, conn.QueryRow(ctx, sql).Scan(&s))
	return s
}

func TestSharedDatabasesAreSeparate(t *testing.T) {
	srv := pgtest.Shared(t)
	a, b := srv.NewDatabase(t), srv.NewDatabase(t)
	require.NotEqual(t, a, b)
	require.Equal(t, "testshareddatabasesareseparate_1", query(t, a, "SELECT current_database()"))
	require.Same(t, srv, pgtest.Shared(t), "one cluster per test binary")
	require.Equal(t, "127.0.0.1", query(t, a, "SELECT host(inet_server_addr())"))
}

func TestStopAndResume(t *testing.T) {
	srv := pgtest.Start(t, pgtest.MaxPreparedTransactions(4))
	dsn := srv.NewDatabase(t)
	require.Equal(t, "4", query(t, dsn, "SHOW max_prepared_transactions"))
	require.Equal(t, "off", query(t, dsn, "SHOW fsync"))
	require.NoError(t, srv.Stop())
	_, err := pgx.Connect(t.Context(), dsn)
	require.Error(t, err, "connect to a stopped server")
	require.NoError(t, srv.Resume())
	require.Equal(t, "1", query(t, dsn, "SELECT 1::text"))
}
