package pgtest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Server is a running private PostgreSQL cluster.
type Server struct {
	// Host is "127.0.0.1".
	Host string
	// Port is the TCP port the server listens on.
	Port int
	// Dir is the cluster's folder: data/ (the data directory), the server log and the Unix socket.
	Dir string
	// BinDir is the folder of the PostgreSQL programs used.
	BinDir string

	opts    options
	cred    *syscall.Credential // nil: run as the current user
	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	dbCount atomic.Int64
}

// Option configures Start.
type Option func(*options)

type options struct {
	durable  bool
	prepared int
	settings []string
}

// Durable keeps PostgreSQL's durability settings (fsync, synchronous_commit, full_page_writes on), for benchmarks.
// By default they are off: a test cluster need not survive a power cut.
func Durable() Option { return func(o *options) { o.durable = true } }

// MaxPreparedTransactions sets max_prepared_transactions (default 0: PREPARE TRANSACTION is refused).
func MaxPreparedTransactions(n int) Option { return func(o *options) { o.prepared = n } }

// Setting adds a server setting, e.g. Setting("max_connections", "200").
func Setting(name, value string) Option {
	return func(o *options) { o.settings = append(o.settings, name+"="+value) }
}

// BinDir returns the folder of initdb and postgres, or an error saying how to install PostgreSQL.
func BinDir() (string, error) {
	has := func(dir string) bool {
		for _, p := range []string{"initdb", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, p)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	if d := os.Getenv("KAPPA_PG_BIN"); d != "" {
		if has(d) {
			return d, nil
		}
		return "", fmt.Errorf("KAPPA_PG_BIN=%s holds no initdb and postgres", d)
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return versionOf(b) - versionOf(a) }) // newest first
	for _, d := range dirs {
		if has(d) {
			return d, nil
		}
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if d := strings.TrimSpace(string(out)); has(d) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if d := filepath.Dir(p); has(d) {
			return d, nil
		}
	}
	return "", errors.New("PostgreSQL is not installed (no initdb and postgres under /usr/lib/postgresql/*/bin, pg_config --bindir or PATH; run `make test-deps`, which runs scripts/install-postgres.sh, or set KAPPA_PG_BIN)")
}

// versionOf reads the major version from /usr/lib/postgresql/VERSION/bin.
func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// available returns the bin folder, or skips tb (fails it with KAPPA_REQUIRE_SERVICES=1) when PostgreSQL is
// missing.
func available(tb testing.TB) string {
	tb.Helper()
	dir, err := BinDir()
	if err != nil {
		if os.Getenv("KAPPA_REQUIRE_SERVICES") == "1" {
			tb.Fatalf("pgtest: %v (KAPPA_REQUIRE_SERVICES=1)", err)
		}
		tb.Skipf("pgtest: %v", err)
	}
	return dir
}

// Start starts a cluster of the test's own and stops it when tb ends. It skips tb when PostgreSQL is not
// installed, or fails it when KAPPA_REQUIRE_SERVICES=1.
func Start(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	bin := available(tb)
	s, err := start(bin, opts)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("pgtest: %v", err)
		}
	})
	return s
}

// New starts a cluster that the caller stops with Close: for programs without a testing.TB, such as the demo
// (go run ./examples/analytics -postgres). It returns an error naming `make test-deps` when PostgreSQL is not
// installed.
func New(opts ...Option) (*Server, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	return start(bin, opts)
}

// CreateDatabase creates an empty database and returns its DSN.
func (s *Server) CreateDatabase(name string) (string, error) {
	return s.createDatabase(name)
}

var shared struct {
	mu     sync.Mutex
	inMain bool
	srv    *Server
	err    error
}

// Main runs the tests of a binary (m.Run) and then stops the cluster Shared started, if any. Call it from
// TestMain: os.Exit(pgtest.Main(m)).
//
// When PostgreSQL is missing (and KAPPA_REQUIRE_SERVICES is not 1), Main skips the package's Examples, which use
// SharedDatabase and cannot skip themselves.
func Main(m *testing.M) int {
	shared.mu.Lock()
	shared.inMain = true
	shared.mu.Unlock()
	if _, err := BinDir(); err != nil && os.Getenv("KAPPA_REQUIRE_SERVICES") != "1" {
		if !flag.Parsed() {
			flag.Parse()
		}
		skip := "^Example"
		if f := flag.Lookup("test.skip"); f != nil && f.Value.String() != "" {
			skip = f.Value.String() + "|" + skip
		}
		_ = flag.Set("test.skip", skip)
		fmt.Fprintf(os.Stderr, "pgtest: skipping the Examples: %v\n", err)
	}
	code := m.Run()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv != nil {
		if err := shared.srv.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
		shared.srv = nil
	}
	return code
}

// Shared returns the test binary's cluster, starting it on first use; Main stops it after the last test. It
// skips tb when PostgreSQL is not installed (fails it with KAPPA_REQUIRE_SERVICES=1). Tests share the cluster:
// take a database of your own with NewDatabase.
func Shared(tb testing.TB) *Server {
	tb.Helper()
	bin := available(tb)
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.inMain {
		tb.Fatal("pgtest: Shared needs pgtest.Main in the package's TestMain (it stops the cluster)")
	}
	if shared.srv == nil && shared.err == nil {
		shared.srv, shared.err = start(bin, nil)
	}
	if shared.err != nil {
		tb.Fatalf("pgtest: %v", shared.err)
	}
	return shared.srv
}

// SharedDatabase creates a database on the test binary's cluster (see Shared), starting the cluster on first use,
// and returns its DSN: for runnable Examples, which have no testing.TB. The package's TestMain must use Main.
func SharedDatabase(name string) (string, error) {
	bin, err := BinDir()
	if err != nil {
		return "", err
	}
	shared.mu.Lock()
	if !shared.inMain {
		shared.mu.Unlock()
		return "", errors.New("pgtest: SharedDatabase needs pgtest.Main in the package's TestMain (it stops the cluster)")
	}
	if shared.srv == nil && shared.err == nil {
		shared.srv, shared.err = start(bin, nil)
	}
	srv, err := shared.srv, shared.err
	shared.mu.Unlock()
	if err != nil {
		return "", err
	}
	return srv.createDatabase(dbName(name, srv.dbCount.Add(1)))
}

// sweep removes the folders of clusters whose test binary was killed (the server died with it, see Pdeathsig, but
// the folder stays): no server running (no postmaster.pid) and untouched for an hour.
func sweep() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "kappa-pgtest-*"))
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "data", "postmaster.pid")); !errors.Is(err, os.ErrNotExist) {
			continue
		}
		fi, err := os.Stat(filepath.Join(d, "data"))
		if err != nil {
			fi, err = os.Stat(d)
		}
		if err == nil && time.Since(fi.ModTime()) > time.Hour {
			_ = os.RemoveAll(d)
		}
	}
}

func start(bin string, opts []Option) (*Server, error) {
	var o options
	for _, f := range opts {
		f(&o)
	}
	sweep()
	dir, err := os.MkdirTemp("", "kappa-pgtest-")
	if err != nil {
		return nil, fmt.Errorf("create cluster folder: %w", err)
	}
	s := &Server{Host: "127.0.0.1", Dir: dir, BinDir: bin, opts: o}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("running as root, PostgreSQL must run as the postgres user, which does not exist (the postgresql package creates it): %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("chown %s to postgres: %w", dir, err)
		}
	}
	if err := s.initdb(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	var lastErr error
	for range 3 { // a free port can be taken between probe and bind: try another
		port, err := freePort()
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		s.Port = port
		if lastErr = s.run(); lastErr == nil {
			return s, nil
		}
	}
	os.RemoveAll(dir)
	return nil, lastErr
}

func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.BinDir, name), args...)
	cmd.Dir = s.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Pdeathsig: syscall.SIGQUIT}
	cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
	return cmd
}

func (s *Server) initdb() error {
	cmd := s.command("initdb", "-D", filepath.Join(s.Dir, "data"), "-A", "trust", "-U", "postgres", "-E", "UTF8",
		"--locale=C", "--no-sync", "--no-instructions")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb in %s: %w: %s", s.Dir, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// run starts the server on s.Port and waits until it accepts queries.
func (s *Server) run() error {
	args := []string{"-D", filepath.Join(s.Dir, "data"), "-p", strconv.Itoa(s.Port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=" + s.Dir,
		"-c", "max_prepared_transactions=" + strconv.Itoa(s.opts.prepared), "-c", "TimeZone=UTC"}
	if !s.opts.durable {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	for _, kv := range s.opts.settings {
		args = append(args, "-c", kv)
	}
	logPath := filepath.Join(s.Dir, "server.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open %s: %w", logPath, err)
	}
	defer logf.Close()
	cmd := s.command("postgres", args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, s.DSN("postgres"))
		if err == nil {
			err = conn.Ping(ctx)
			conn.Close(ctx)
		}
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("postgres on port %d exited before accepting connections: %s", s.Port, s.LogTail())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return fmt.Errorf("postgres on port %d not accepting connections after 30s: %w: %s", s.Port, err, s.LogTail())
		}
	}
}

// DSN returns the connection string of database db as the postgres superuser over TCP.
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@%s/%s?sslmode=disable", net.JoinHostPort(s.Host, strconv.Itoa(s.Port)), db)
}

// NewDatabase creates an empty database named after the test and returns its DSN.
func (s *Server) NewDatabase(tb testing.TB) string {
	tb.Helper()
	dsn, err := s.createDatabase(dbName(tb.Name(), s.dbCount.Add(1)))
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	return dsn
}

func (s *Server) createDatabase(name string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return "", fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return s.DSN(name), nil
}

// dbName makes a database name from a test name: lower case letters, digits and _, at most 63 bytes.
func dbName(test string, n int64) string {
	var b strings.Builder
	for _, r := range strings.ToLower(test) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else if b.Len() > 0 && !strings.HasSuffix(b.String(), "_") {
			b.WriteByte('_')
		}
	}
	suffix := "_" + strconv.FormatInt(n, 10)
	name := strings.TrimSuffix(b.String(), "_")
	if len(name)+len(suffix) > 63 {
		name = name[:63-len(suffix)]
	}
	return name + suffix
}

// Stop stops the server (fast shutdown: open connections are closed), keeping its data and port for Resume.
func (s *Server) Stop() error {
	return s.stop()
}

func (s *Server) stop() error {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGINT) // fast shutdown
	select {
	case <-exited:
		return nil
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Signal(syscall.SIGQUIT) // immediate shutdown
	}
	select {
	case <-exited:
		return nil
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("postgres on port %d did not stop; killed", s.Port)
	}
}

// Resume starts a stopped server again on the same port and data.
func (s *Server) Resume() error {
	s.mu.Lock()
	running := s.cmd != nil
	s.mu.Unlock()
	if running {
		return nil
	}
	return s.run()
}

// Close stops the server and removes its folder.
func (s *Server) Close() error {
	err := s.stop()
	if rerr := os.RemoveAll(s.Dir); rerr != nil && err == nil {
		err = fmt.Errorf("remove %s: %w", s.Dir, rerr)
	}
	return err
}

// LogTail returns the end of the server log, for failure messages.
func (s *Server) LogTail() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "server.log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
