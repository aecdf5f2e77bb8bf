// Package pgtest starts private PostgreSQL clusters for tests: a real server from the machine's PostgreSQL
// installation (Debian's postgresql package, installed by `make test-deps` through scripts/install-postgres.sh),
// initialised in a temporary folder, listening on a free 127.0.0.1 port, and stopped and removed when the test
// (or the test binary) ends.
//
// One cluster per test binary keeps the time low (initdb and start take about a second): use Main in TestMain and
// Shared in the tests, each of which takes a fresh database with NewDatabase:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
//	func TestSomething(t *testing.T) {
//		dsn := pgtest.Shared(t).NewDatabase(t) // "postgres://postgres@127.0.0.1:PORT/test_something_1?sslmode=disable"
//		…
//	}
//
// Runnable Examples, which have no testing.TB, take a database with SharedDatabase; Main skips them when
// PostgreSQL is missing.
//
// New starts a cluster for a program (the demo), which closes it; CreateDatabase gives it a database.
//
// Start gives a test a cluster of its own (stopped by t.Cleanup), which it may Stop and Resume to simulate an
// outage.
//
// As root, the data folder is owned by the postgres user and initdb and the server run as that user (PostgreSQL
// refuses to run as root); as any other user they run as that user. The server is a child of the test binary and
// dies with it (SIGQUIT on the parent's death), so a killed test run leaves no server behind; its folder is removed
// by a later Start once it has been left alone for an hour. By default the
// cluster trades durability for speed (fsync, synchronous_commit and full_page_writes off); Durable keeps
// PostgreSQL's defaults, for benchmarks.
//
// When PostgreSQL is not installed the tests are skipped with a message naming `make test-deps`, unless
// KAPPA_REQUIRE_SERVICES=1 (set by `make test`), in which case they fail. KAPPA_PG_BIN may name the folder of
// initdb and postgres; otherwise the newest /usr/lib/postgresql/*/bin, then `pg_config --bindir`, then PATH are
// tried.
package pgtest
