package handoff_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/testsvc/kafkatest"
	"github.com/kappaflow/kappa/io/handoff"
	"github.com/kappaflow/kappa/io/objstore"
	"github.com/kappaflow/kappa/runners/local"
)

func killConfig(hook func(uint64, string)) local.Config {
	return local.Config{Mode: local.Stream, Workers: 2, EpochInterval: 30 * time.Millisecond, BatchRecords: 20,
		BatchWait: 5 * time.Millisecond, OpenSplits: 1, EpochHook: hook, Logger: quiet}
}

// TestKillChild is the job the kill test runs in a child process (it does nothing in a normal test run): the
// hand-off pipeline with checkpoints in $HANDOFF_KILL_CHECKPOINTS, killing itself with SIGKILL at step
// $HANDOFF_KILL_AT of the third epoch it runs.
func TestKillChild(t *testing.T) {
	brokers := os.Getenv("HANDOFF_KILL_BROKERS")
	if brokers == "" {
		t.Skip("run by TestKilledHandoffIsExact in a child process")
	}
	ctx := context.Background()
	store, err := objstore.NewCheckpointStore(ctx, os.Getenv("HANDOFF_KILL_CHECKPOINTS"), objstore.Config{})
	require.NoError(t, err)
	var hook func(uint64, string)
	if step := os.Getenv("HANDOFF_KILL_AT"); step != "" {
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
	p := handoffPipeline(t, strings.Split(brokers, ","), os.Getenv("HANDOFF_KILL_ARCHIVE"), os.Getenv("HANDOFF_KILL_OUT"), 200*time.Microsecond)
	require.NoError(t, local.New(cfg).Run(ctx, p))
}

// phases describes the hand-off state of the latest checkpoint in dir, e.g. "epoch 12: archive 3/9 done;
// 0:archive 1:kafka 2:kafka" (a partition is in its archive phase until its Kafka split has a position), and
// classifies it: "archive" (archive splits left), "switch" (archive read, some partition not yet on Kafka),
// "kafka" (every partition on Kafka), "" (no checkpoint).
func phases(t *testing.T, dir string) (desc, phase string) {
	ctx := t.Context()
	store, err := objstore.NewCheckpointStore(ctx, dir, objstore.Config{})
	require.NoError(t, err)
	cps, err := local.ListCheckpoints(ctx, store)
	require.NoError(t, err)
	var last *local.CheckpointInfo
	for i := range cps {
		if cps[i].Complete && (last == nil || cps[i].Epoch > last.Epoch) {
			last = &cps[i]
		}
	}
	if last == nil {
		return "no checkpoint", ""
	}
	m, err := local.ReadManifest(ctx, store, last.Name)
	require.NoError(t, err)
	var arch, archDone, inArchive int
	var parts []string
	for _, src := range m.Sources {
		for _, sp := range src.Splits {
			if strings.HasPrefix(sp.ID, "archive/") {
				arch++
				if sp.Done {
					archDone++
				}
				continue
			}
			ph := "kafka"
			if sp.Pos == nil {
				ph = "archive"
				inArchive++
			} else {
				d, err := handoff.DecodePosition(sp.ID, sp.Pos)
				require.NoError(t, err)
				ph = d
			}
			parts = append(parts, strings.TrimPrefix(sp.ID, "kafka/")+":"+ph)
		}
	}
	switch {
	case archDone < arch:
		phase = "archive"
	case inArchive > 0:
		phase = "switch"
	default:
		phase = "kafka"
	}
	return fmt.Sprintf("epoch %d: archive %d/%d done; %s", last.Epoch, archDone, arch, strings.Join(parts, ", ")), phase
}

// The bar: the hand-off job is SIGKILLed at least three times while partitions are still in their
// archive phase (at epoch steps "prepared", "checkpointed", "committing" and at random moments) and restarted from
// its checkpoints each time; the output then holds every event exactly once, like a pure-Kafka run.
func TestKilledHandoffIsExact(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a child process several times")
	}
	const n = 6000
	c := kafkatest.Start(t, kafkatest.Topic("events", 3))
	// The archive ends at different offsets per partition: 0 at 1399, 1 at 699, 2 at 299.
	produce(t, c, 0, 2400, 3, func(i int) int32 {
		switch {
		case i%12 < 7:
			return 0
		case i%12 < 11:
			return 1
		}
		return 2
	})
	archive := t.TempDir()
	archiveNow(t, c, archive)
	produce(t, c, 2400, n, 3, func(i int) int32 { return int32(i % 3) })

	out, chk := t.TempDir(), t.TempDir()
	bin, err := os.Executable()
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 12))
	steps := []string{"prepared", "", "checkpointed", "committing"}
	kills := map[string]int{} // by phase of the checkpoint the next run resumes from
	var log []string
	for run := 0; ; run++ {
		require.Less(t, run, 40, "runs: %v", log)
		cmd := exec.Command(bin, "-test.run=^TestKillChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "HANDOFF_KILL_BROKERS="+strings.Join(c.Brokers, ","), "HANDOFF_KILL_CHECKPOINTS="+chk,
			"HANDOFF_KILL_ARCHIVE="+archive, "HANDOFF_KILL_OUT="+out)
		// The first runs die at epoch steps early in the archive phase; later ones at random moments, until one
		// was killed twice after a partition had switched to Kafka (resumes that check the recorded cut).
		step := "none"
		killing := run < len(steps) || (kills["switch"]+kills["kafka"] < 2 && run < 25)
		delay := time.Duration(100+rng.IntN(300)) * time.Millisecond
		if killing {
			step = ""
			if run < len(steps) {
				step = steps[run]
			} else {
				delay = time.Duration(300+rng.IntN(900)) * time.Millisecond
			}
			if step != "" {
				cmd.Env = append(cmd.Env, "HANDOFF_KILL_AT="+step)
			}
		}
		var buf strings.Builder
		cmd.Stdout, cmd.Stderr = &buf, &buf
		require.NoError(t, cmd.Start())
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var err error
		if killing && step == "" {
			select {
			case err = <-done:
			case <-time.After(delay):
				_ = cmd.Process.Signal(syscall.SIGKILL)
				err = <-done
				step = "random"
			}
		} else {
			err = <-done
		}
		desc, phase := phases(t, chk)
		if ee, ok := err.(*exec.ExitError); ok && ee.Sys().(syscall.WaitStatus).Signaled() {
			log = append(log, fmt.Sprintf("killed at %s, resumes from %s", step, desc))
			kills[phase]++
			continue
		}
		require.NoError(t, err, "run %d: %s", run, buf.String())
		log = append(log, "finished: "+desc)
		break
	}
	t.Logf("runs:\n%s", strings.Join(log, "\n"))
	require.GreaterOrEqual(t, kills["archive"]+kills["switch"], 3, "kills while a partition was still in its archive phase")
	require.GreaterOrEqual(t, kills["switch"]+kills["kafka"], 2, "kills after a partition switched to Kafka")
	require.Equal(t, allEvents(n), readOut(t, out))
}
