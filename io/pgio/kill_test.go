package pgio_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/io/generate"
	"github.com/kappaflow/kappa/io/objstore"
	"github.com/kappaflow/kappa/io/pgio"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

// Total is a user's sum over a one-second window.
type Total struct {
	User   string    `pg:",key"`
	Window time.Time `pg:"window_start,key"`
	Sum    int64     `pg:",add"`
}

const (
	killEvents = 40_000
	killRate   = 5_000 // events per second
	killUsers  = 13
)

var killBase = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func killEvent(i int64) (pipeline.KV[string, int64], pipeline.Time) {
	return pipeline.KV[string, int64]{Key: "u" + strconv.FormatInt(i%killUsers, 10), Value: i%7 + 1},
		pipeline.TimeOf(killBase.Add(time.Duration(i) * time.Millisecond))
}

// killPipeline generates events (user, value) one millisecond of event time apart and sums them per user and
// second twice, with early panes every 20 elements: accumulating panes upserted into table acc (Replace), and
// discarding panes added into table dis (Add). Both tables end with the per-window sums.
func killPipeline(dsn string, rate float64) *pipeline.Pipeline {
	p := pipeline.New()
	s := p.Root()
	events := generate.Read(s, generate.Config[pipeline.KV[string, int64]]{Count: killEvents, Splits: 4, Rate: rate, Func: killEvent})
	toTotal := func(kv pipeline.KV[string, int64], w pipeline.Window) Total {
		return Total{User: kv.Key, Window: w.Start.Std().UTC(), Sum: kv.Value}
	}
	early := windowing.WithTrigger(windowing.AfterWatermark{Early: windowing.EveryN(20)})
	acc := windowing.Into(s.Scope("acc"), events, windowing.Fixed{Size: time.Second}, early, windowing.AccumulatingPanes())
	pgio.Write(s.Scope("acc"), transforms.MapWindowed(s.Scope("acc"), transforms.SumPerKey(s.Scope("acc"), acc), toTotal),
		pgio.Config[Total]{DSN: dsn, Table: "acc", JobID: "kill", CreateTable: true, Logger: slog.New(slog.DiscardHandler)})
	dis := windowing.Into(s.Scope("dis"), events, windowing.Fixed{Size: time.Second}, early, windowing.DiscardingPanes())
	pgio.Write(s.Scope("dis"), transforms.MapWindowed(s.Scope("dis"), transforms.SumPerKey(s.Scope("dis"), dis), toTotal),
		pgio.Config[Total]{DSN: dsn, Table: "dis", JobID: "kill", Mode: pgio.Add, CreateTable: true, Logger: slog.New(slog.DiscardHandler)})
	return p
}

func killConfig(hook func(uint64, string)) local.Config {
	return local.Config{Mode: local.Stream, Workers: 2, EpochInterval: 50 * time.Millisecond, BatchRecords: 100,
		BatchWait: 10 * time.Millisecond, EpochHook: hook, Logger: slog.New(slog.DiscardHandler)}
}

// TestKillChild is the job the kill test runs in a child process (it does nothing in a normal test run): the
// pipeline with checkpoints in $PGIO_KILL_CHECKPOINTS, killing itself with SIGKILL at step $PGIO_KILL_AT (e.g.
// "prepared") of the third epoch it runs.
func TestKillChild(t *testing.T) {
	dsn := os.Getenv("PGIO_KILL_DSN")
	if dsn == "" {
		t.Skip("run by TestKilledRunsAreExactlyOnce in a child process")
	}
	ctx := context.Background()
	store, err := objstore.NewCheckpointStore(ctx, os.Getenv("PGIO_KILL_CHECKPOINTS"), objstore.Config{})
	require.NoError(t, err)
	var hook func(uint64, string)
	if step := os.Getenv("PGIO_KILL_AT"); step != "" {
		first := int64(-1)
		hook = func(epoch uint64, s string) {
			if first < 0 {
				first = int64(epoch)
			}
			if s == step && int64(epoch) >= first+2 {
				_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {}
			}
		}
	}
	cfg := killConfig(hook)
	cfg.Checkpoints = store
	require.NoError(t, local.New(cfg).Run(ctx, killPipeline(dsn, killRate)))
}

// The bar: the job is SIGKILLed at least 10 times — at random moments and at the epoch steps "prepared"
// (rows staged, no checkpoint), "checkpointed" (checkpoint written, nothing committed) and "committing" (one shard
// committed, the other not) — and restarted each time from its checkpoints; both tables (Replace with accumulating
// panes, Add with discarding panes) then equal those of an uninterrupted run, and the per-window sums.
func TestKilledRunsAreExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a child process many times")
	}
	want := map[string]int64{}
	for i := range int64(killEvents) {
		kv, at := killEvent(i)
		want[fmt.Sprintf("%s %s", kv.Key, at.Std().UTC().Truncate(time.Second).Format(time.RFC3339))] += kv.Value
	}
	var wantRows []string
	for k, v := range want {
		wantRows = append(wantRows, k+" "+strconv.FormatInt(v, 10))
	}
	slices.Sort(wantRows)

	// The uninterrupted run, in this process, as fast as it goes.
	ref := newDB(t)
	require.NoError(t, local.New(killConfig(nil)).Run(t.Context(), killPipeline(ref, 0)))
	const q = "SELECT user, window_start, sum FROM %s ORDER BY 1, 2"
	table := func(dsn, name string) []string {
		return rows(t, dsn, strings.Replace(fmt.Sprintf(q, name), "user", `"user"`, 1))
	}
	require.Equal(t, wantRows, table(ref, "acc"))
	require.Equal(t, wantRows, table(ref, "dis"))

	dsn := newDB(t)
	chk := t.TempDir()
	bin, err := os.Executable()
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 15))
	steps := []string{"", "prepared", "checkpointed", "committing"}
	killed := map[string]int{}
	total := 0
	start := time.Now()
	for run := 0; ; run++ {
		require.Less(t, run, 60, "runs")
		cmd := exec.Command(bin, "-test.run=^TestKillChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "PGIO_KILL_DSN="+dsn, "PGIO_KILL_CHECKPOINTS="+chk)
		step := ""
		if total < 12 {
			step = steps[run%len(steps)]
			if step != "" {
				cmd.Env = append(cmd.Env, "PGIO_KILL_AT="+step)
			}
		}
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		require.NoError(t, cmd.Start())
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var err error
		if total < 12 && step == "" {
			select {
			case err = <-done:
			case <-time.After(time.Duration(200+rng.IntN(600)) * time.Millisecond):
				_ = cmd.Process.Signal(syscall.SIGKILL)
				err = <-done
				step = "random"
			}
		} else {
			err = <-done
		}
		if ee, ok := err.(*exec.ExitError); ok && ee.Sys().(syscall.WaitStatus).Signaled() {
			killed[step]++
			total++
			continue
		}
		require.NoError(t, err, "run %d (kill at %q): %s", run, step, out.String())
		break
	}
	t.Logf("killed %d times %v; %s", total, killed, time.Since(start).Round(time.Millisecond))
	require.GreaterOrEqual(t, total, 10, "kills before the job finished")
	for _, step := range steps[1:] {
		require.Positive(t, killed[step], "kills at %s", step)
	}
	require.Equal(t, table(ref, "acc"), table(dsn, "acc"), "Replace table after kills")
	require.Equal(t, table(ref, "dis"), table(dsn, "dis"), "Add table after kills")
}
