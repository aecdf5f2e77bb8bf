package kinesistest

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// Script is kinesalite.js, the Node.js program that runs kinesalite with kappa's test controls.
//
//go:embed kinesalite.js
var Script []byte

// Version is the kinesalite version `make test-deps` installs.
const Version = "3.3.3"

// ModuleDir returns the directory of the installed kinesalite package
// ($KAPPA_TOOLS/kinesalite/node_modules/kinesalite), or an error saying how to install it.
func ModuleDir() (string, error) {
	tools := os.Getenv("KAPPA_TOOLS")
	if tools == "" {
		root, err := repoRoot()
		if err != nil {
			return "", err
		}
		tools = filepath.Join(root, ".tools")
	}
	dir := filepath.Join(tools, "kinesalite", "node_modules", "kinesalite")
	if _, err := os.Stat(filepath.Join(dir, "package.json")); err != nil {
		return "", fmt.Errorf("kinesalite is not installed in %s (run `make test-deps`): %w", dir, err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		return "", fmt.Errorf("kinesalite needs node on PATH (install Node.js 20, then `make test-deps`): %w", err)
	}
	return dir, nil
}

// repoRoot finds the kappa repository from the working directory (go test runs in the package directory).
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}
	for d := dir; ; {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && bytes.Contains(b, []byte("module github.com/kappaflow/kappa\n")) {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("find repository root: no kappa go.mod above %s; set KAPPA_TOOLS", dir)
		}
		d = parent
	}
}

// Server is a running kinesalite.
type Server struct {
	// Endpoint is the base URL for AWS clients, e.g. "http://127.0.0.1:41234".
	Endpoint string
	// Addr is host:port.
	Addr string

	cmd    *exec.Cmd
	output *syncBuffer
	exited chan struct{}
}

// Start starts kinesalite on a free loopback port and stops it when tb ends. It skips tb when kinesalite is not
// installed, or fails it when KAPPA_REQUIRE_SERVICES=1.
func Start(tb testing.TB) *Server {
	tb.Helper()
	dir, err := ModuleDir()
	if err != nil {
		if os.Getenv("KAPPA_REQUIRE_SERVICES") == "1" {
			tb.Fatalf("kinesistest: %v (KAPPA_REQUIRE_SERVICES=1)", err)
		}
		tb.Skipf("kinesistest: %v", err)
	}
	script := filepath.Join(tb.TempDir(), "kinesalite.js")
	if err := os.WriteFile(script, Script, 0o644); err != nil {
		tb.Fatalf("kinesistest: write %s: %v", script, err)
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ { // a free port can be taken between probe and bind: try another
		s, err := start(dir, script)
		if err == nil {
			tb.Cleanup(s.stop)
			return s
		}
		lastErr = err
	}
	tb.Fatalf("kinesistest: %v", lastErr)
	return nil
}

func start(moduleDir, script string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cmd := exec.Command("node", script, moduleDir, strconv.Itoa(port), "127.0.0.1")
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(os.Environ(), "KAPPA_EXIT_ON_STDIN_EOF=1")
	stdin, err := cmd.StdinPipe() // closed when the test binary dies, which makes kinesalite exit
	if err != nil {
		return nil, fmt.Errorf("start kinesalite: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start kinesalite: %w", err)
	}
	_ = stdin // kept open for the life of the process
	s := &Server{Endpoint: "http://" + addr, Addr: addr, cmd: cmd, output: out, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(s.exited)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return s, nil
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("kinesalite on %s exited before accepting connections: %s", addr, strings.TrimSpace(out.String()))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("kinesalite on %s not accepting connections after 20s: %s", addr, strings.TrimSpace(out.String()))
		}
	}
}

func (s *Server) stop() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Output returns what kinesalite printed so far, for failure messages.
func (s *Server) Output() string { return s.output.String() }

// AWSConfig returns a client configuration for the server: region us-east-1, static credentials, and no SDK
// retries (kappa's connectors retry themselves).
func (s *Server) AWSConfig() aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("kappa", "kappa", ""),
		BaseEndpoint: aws.String(s.Endpoint),
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
	}
}

// Client returns a Kinesis client for the server.
func (s *Server) Client() *kinesis.Client { return kinesis.NewFromConfig(s.AWSConfig()) }

// CreateStream creates a stream with the given number of shards and fails tb on error. kinesalite makes it
// ACTIVE at once.
func (s *Server) CreateStream(tb testing.TB, name string, shards int) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := s.Client().CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(int32(shards))})
	if err != nil {
		tb.Fatalf("kinesistest: create stream %s: %v", name, err)
	}
	for {
		out, err := s.Client().DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		if err != nil {
			tb.Fatalf("kinesistest: describe stream %s: %v", name, err)
		}
		if out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Limits are per-shard rate limits like those of real Kinesis. Zero means unlimited (kinesalite's default).
type Limits struct {
	// GetRecordsPerSecond is how many GetRecords calls a shard accepts per second (Kinesis: 5); the next call
	// within the second fails with ProvisionedThroughputExceededException.
	GetRecordsPerSecond int `json:"getRecordsPerSecond"`
	// PutRecordsPerSecond is how many records a shard accepts per second (Kinesis: 1000); PutRecords entries
	// over it fail individually with ProvisionedThroughputExceededException and are not stored.
	PutRecordsPerSecond int `json:"putRecordsPerSecond"`
}

// SetLimits sets the server's rate limits.
func (s *Server) SetLimits(tb testing.TB, l Limits) {
	tb.Helper()
	s.control(tb, http.MethodPost, fmt.Sprintf("/kappa-control/limits?getRecordsPerSecond=%d&putRecordsPerSecond=%d", l.GetRecordsPerSecond, l.PutRecordsPerSecond), nil)
}

// AdvanceClock moves kinesalite's clock forward by d. Shard iterators are valid for 5 minutes of that clock, so
// advancing it by more expires every iterator handed out so far; arrival timestamps and sequence numbers of later
// records carry the advanced time.
func (s *Server) AdvanceClock(tb testing.TB, d time.Duration) {
	tb.Helper()
	s.control(tb, http.MethodPost, fmt.Sprintf("/kappa-control/clock?advanceMs=%d", d.Milliseconds()), nil)
}

// Stats counts the server's calls and the throttling it applied.
type Stats struct {
	GetShardIteratorCalls int   `json:"getShardIteratorCalls"`
	GetRecordsCalls       int   `json:"getRecordsCalls"`
	ThrottledGetRecords   int   `json:"throttledGetRecords"`
	PutRecordsCalls       int   `json:"putRecordsCalls"`
	PutRecordsEntries     int   `json:"putRecordsEntries"`
	FailedPutRecords      int   `json:"failedPutRecords"`
	ClockOffsetMs         int64 `json:"clockOffsetMs"`
}

// Stats returns the server's counters.
func (s *Server) Stats(tb testing.TB) Stats {
	tb.Helper()
	var st Stats
	s.control(tb, http.MethodGet, "/kappa-control/stats", &st)
	return st
}

func (s *Server) control(tb testing.TB, method, path string, out any) {
	tb.Helper()
	req, err := http.NewRequest(method, s.Endpoint+path, nil)
	if err != nil {
		tb.Fatalf("kinesistest: %s %s: %v", method, path, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("kinesistest: %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	_, _ = body.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("kinesistest: %s %s: %s: %s", method, path, resp.Status, body.String())
	}
	if out != nil {
		if err := json.Unmarshal(body.Bytes(), out); err != nil {
			tb.Fatalf("kinesistest: %s %s: decode %q: %v", method, path, body.String(), err)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
