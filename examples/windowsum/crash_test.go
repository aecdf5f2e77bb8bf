package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/testsvc/kafkatest"
	"github.com/kappaflow/kappa/internal/testsvc/s3test"
	"github.com/kappaflow/kappa/internal/w1"
	"github.com/kappaflow/kappa/io/parquetio"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
)

// wantRows is what an uninterrupted W1 run over events [0, n) outputs, one line per row.
func wantRows(n int64) []string {
	type k struct {
		key   string
		start int64
	}
	sums := map[k]w1.Row{}
	for i := range n {
		e := w1.Gen(i)
		kk := k{e.Key, e.Time - (e.Time%w1.WindowSize+w1.WindowSize)%w1.WindowSize}
		r := sums[kk]
		r.Key, r.WindowStart, r.Sum, r.Count = kk.key, kk.start, r.Sum+e.Value, r.Count+1
		sums[kk] = r
	}
	var out []string
	for _, r := range sums {
		out = append(out, rowLine(r))
	}
	slices.Sort(out)
	return out
}

func rowLine(r w1.Row) string {
	return fmt.Sprintf("%s %d %d %d", r.Key, r.WindowStart, r.Sum, r.Count)
}

func buildWindowsum(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "windowsum")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
}

// crashLoop runs the job again and again, killing it with SIGKILL — at random moments, and from inside at forced
// points: after the state objects of a checkpoint but before its manifest (mid-checkpoint), and between two
// shards' sink commits (mid-sink-commit) — then lets it finish. It returns the number of kills.
func crashLoop(t *testing.T, bin string, args []string, kills int) int {
	return crashLoopWith(t, bin, func(int) []string { return args }, kills)
}

// crashLoopWith is crashLoop with the arguments of each run given by argsOf(run number).
func crashLoopWith(t *testing.T, bin string, argsOf func(int) []string, kills int) int {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	killed := 0
	for i := 0; ; i++ {
		cmd := exec.Command(bin, argsOf(i)...)
		cmd.Env = os.Environ()
		var mode string
		if killed < kills {
			switch i % 3 {
			case 0:
				mode = "state-written:0"
			case 1:
				mode = "committing:0"
			}
			if mode != "" {
				cmd.Env = append(cmd.Env, "KAPPA_CRASH="+mode)
			}
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		require.NoError(t, cmd.Start())
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		if killed < kills && mode == "" {
			select {
			case err := <-done:
				require.NoError(t, err, "run %d: %s", i, stderr.String())
				return killed // finished before the kill
			case <-time.After(time.Duration(100+rng.IntN(500)) * time.Millisecond):
				_ = cmd.Process.Signal(syscall.SIGKILL)
				<-done
				killed++
				continue
			}
		}
		err := <-done
		if ee, ok := err.(*exec.ExitError); ok && ee.Sys().(syscall.WaitStatus).Signaled() {
			killed++
			continue
		}
		require.NoError(t, err, "run %d (%s): %s", i, mode, stderr.String())
		if killed >= kills {
			return killed
		}
		// It finished before all kills happened: the remaining ones would find nothing to do.
		return killed
	}
}

// The bar: a streaming W1 job reading Kafka and writing window results as Parquet to S3, killed with
// SIGKILL at least 10 times (also mid-checkpoint and mid-sink-commit) and restarted with the same flags, ends with
// exactly the rows of an uninterrupted run. The same with the transactional Kafka sink, read read_committed.
func TestCrashRecoveryIsExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a subprocess many times")
	}
	bin := buildWindowsum(t)
	const n = 150_000
	want := wantRows(n)
	kafka := kafkatest.Start(t, kafkatest.Topic("w1", 4), kafkatest.Topic("rows", 4))
	srv := s3test.Start(t)
	var out strings.Builder
	require.NoError(t, run(context.Background(), options{n: n, publish: kafka.URL("w1")}, &out))

	for _, sink := range []struct {
		name  string
		to    string
		kills int
		read  func(t *testing.T) []string
	}{
		{"parquet on s3", srv.URL("rows/"), 10, func(t *testing.T) []string { return parquetRows(t, srv.URL("rows/"), srv) }},
		{"transactional kafka", kafka.URL("rows") + "?transactional_id=windowsum", 6, func(t *testing.T) []string {
			var rows []string
			for _, r := range kafka.ReadAll(t, "rows") {
				var row w1.Row
				require.NoError(t, json.Unmarshal(r.Value, &row))
				rows = append(rows, rowLine(row))
			}
			slices.Sort(rows)
			return rows
		}},
	} {
		t.Run(sink.name, func(t *testing.T) {
			chk := srv.URL("checkpoints/" + strings.ReplaceAll(sink.name, " ", "-") + "/")
			args := []string{"-from", kafka.URL("w1"), "-mode", "stream", "-checkpoint", chk, "-to", sink.to,
				"-s3-endpoint", srv.Config.Endpoint, "-stop-idle", "1s", "-epoch", "50ms", "-batch", "300", "-workers", "2"}
			killed := crashLoop(t, bin, args, sink.kills)
			t.Logf("%s: killed %d times", sink.name, killed)
			require.GreaterOrEqual(t, killed, sink.kills)
			got := sink.read(t)
			require.Equal(t, len(want), len(got), "row count")
			require.Equal(t, want, got)
		})
	}
}

func parquetRows(t *testing.T, url string, srv *s3test.Server) []string {
	t.Helper()
	p := pipeline.New()
	s := p.Root()
	rows := parquetio.Read(s, parquetio.ReadConfig[w1.Row]{URL: url, S3: srv.Config})
	res := pipelinetest.Collect(s, rows)
	require.NoError(t, local.New(local.Config{}).Run(context.Background(), p))
	var out []string
	for _, r := range res.Values() {
		out = append(out, rowLine(r))
	}
	slices.Sort(out)
	return out
}

// The state-at-scale bar: W1-totals (one global window, as many keys as events) read from Kafka in stream mode
// under a state budget far below its state (spilled to disk), checkpointed incrementally to S3, killed with SIGKILL
// at least 10 times (also mid-checkpoint and mid-commit) with the worker count changed at every restart, writes
// exactly the uninterrupted run's totals to Parquet on S3.
func TestCrashRecoveryW1Totals(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a subprocess many times")
	}
	bin := buildWindowsum(t)
	const n, keys = 60_000, 60_000
	wantSum, wantRows := w1.PlainLoopTotals(n, keys)
	kafka := kafkatest.Start(t, kafkatest.Topic("totals", 4))
	srv := s3test.Start(t)
	var out strings.Builder
	require.NoError(t, run(context.Background(), options{n: n, keys: keys, publish: kafka.URL("totals")}, &out))
	chk, to := srv.URL("checkpoints/totals/"), srv.URL("totals/")
	killed := crashLoopWith(t, bin, func(i int) []string {
		return []string{"-from", kafka.URL("totals"), "-mode", "stream", "-window", "global", "-every", "1h",
			"-state-memory", "2000000", "-checkpoint", chk, "-to", to, "-s3-endpoint", srv.Config.Endpoint,
			"-stop-idle", "1s", "-epoch", "100ms", "-batch", "500", "-workers", fmt.Sprint(1 + i%3)}
	}, 10)
	t.Logf("killed %d times", killed)
	require.GreaterOrEqual(t, killed, 10)
	var sum uint64
	rows := 0
	for _, r := range parquetRowValues(t, to, srv) {
		sum += w1.RowHash(r.Key, r.WindowStart, r.Sum)
		rows++
	}
	require.Equal(t, wantRows, rows, "one row per key")
	require.Equal(t, w1.FormatChecksum(wantSum), w1.FormatChecksum(sum))
}

func parquetRowValues(t *testing.T, url string, srv *s3test.Server) []w1.Row {
	t.Helper()
	p := pipeline.New()
	s := p.Root()
	res := pipelinetest.Collect(s, parquetio.Read(s, parquetio.ReadConfig[w1.Row]{URL: url, S3: srv.Config}))
	require.NoError(t, local.New(local.Config{}).Run(context.Background(), p))
	return res.Values()
}
