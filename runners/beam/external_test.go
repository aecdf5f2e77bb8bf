package beam_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/universal/extworker"
	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/io/foreach"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/beam"
	"github.com/kappaflow/kappa/transforms"
)

// The builder a worker in another process calls to rebuild the graph; registered at init, in every process that
// runs this test binary.
func init() {
	beam.Register("kappa-external-test", buildCounts)
}

var outMu sync.Mutex

// buildCounts counts words and appends "word count" lines to the file params["out"].
func buildCounts(params map[string]string) (*pipeline.Pipeline, error) {
	out := params["out"]
	if out == "" {
		return nil, fmt.Errorf("no out parameter")
	}
	p := pipeline.New()
	s := p.Root()
	words := transforms.FlatMap(s, pipelinetest.Create(s, "a b c", "a b", "a"), strings.Fields)
	foreach.Write(s, transforms.Count(s, words), func(_ context.Context, kv transforms.KV[string, int64]) error {
		outMu.Lock()
		defer outMu.Unlock()
		f, err := os.OpenFile(out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = fmt.Fprintf(f, "%s %d pid=%d\n", kv.Key, kv.Value, os.Getpid())
		return err
	})
	return p, nil
}

func TestMain(m *testing.M) {
	if addr := os.Getenv("KAPPA_BEAM_TEST_WORKER_POOL"); addr != "" {
		os.Exit(serveWorkerPool(addr))
	}
	os.Exit(m.Run())
}

// serveWorkerPool runs a Beam external worker pool in this (child) process until stdin closes.
func serveWorkerPool(addr string) int {
	_, port, _ := net.SplitHostPort(addr)
	var p int
	fmt.Sscan(port, &p)
	pool, err := extworker.StartLoopback(context.Background(), p)
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker pool:", err)
		return 1
	}
	fmt.Println("ready")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // the parent closes stdin when done
	_ = pool.Stop(context.Background())
	return 0
}

// The pipeline's workers run in a separate process (Beam's EXTERNAL environment: a worker pool started from this
// test binary), which has no graph in memory: it rebuilds it by calling the builder registered by name, with the
// parameters the job carries, and checks the fingerprint.
func TestExternalWorkerRebuildsGraphByName(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	child := osexec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), "KAPPA_BEAM_TEST_WORKER_POOL="+addr)
	stdin, err := child.StdinPipe()
	require.NoError(t, err)
	stdout, err := child.StdoutPipe()
	require.NoError(t, err)
	child.Stderr = os.Stderr
	require.NoError(t, child.Start())
	defer func() {
		_ = stdin.Close()
		_ = child.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "ready\n", line)

	out := filepath.Join(t.TempDir(), "counts.txt")
	params := map[string]string{"out": out}
	p, err := buildCounts(params)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, port, _ := net.SplitHostPort(addr)
	err = beam.New(beam.Config{EnvironmentType: "EXTERNAL", EnvironmentConfig: "localhost:" + port,
		Builder: "kappa-external-test", Params: params}).Run(ctx, p)
	require.NoError(t, err)

	b, err := os.ReadFile(out)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	slices.Sort(lines)
	want := []string{"a 3", "b 2", "c 1"}
	require.Len(t, lines, len(want))
	for i, l := range lines {
		word, pid, ok := strings.Cut(l, " pid=")
		require.True(t, ok, l)
		require.Equal(t, want[i], word)
		require.Equal(t, fmt.Sprint(child.Process.Pid), pid, "written by the worker process")
	}
}
