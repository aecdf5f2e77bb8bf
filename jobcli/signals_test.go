package jobcli_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/io/foreach"
	"github.com/kappaflow/kappa/io/parquetio"
	"github.com/kappaflow/kappa/jobcli"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

// TestMain runs the test job instead of the tests when the signal tests start this binary as a child.
func TestMain(m *testing.M) {
	if args := os.Getenv("JOBCLI_TEST_JOB"); args != "" {
		var argv []string
		if err := json.Unmarshal([]byte(args), &argv); err != nil {
			panic(err)
		}
		testJob(argv)
		return
	}
	os.Exit(m.Run())
}

// row is what the test job writes: the split and index of every record it read.
type row struct {
	Split string `parquet:"split"`
	I     int64  `parquet:"i"`
}

// testJob is a job binary built on jobcli: an unbounded source of numbered records (two splits, a few thousand
// records a second; -block-after N makes every split block after N records until the run is cancelled, like a
// Kafka poll), written as Parquet to -out, and counted per split (keyed state for the checkpoints). It prints
// records=N (what the run read) on stdout when it ends.
func testJob(args []string) {
	fs := flag.NewFlagSet("testjob", flag.ContinueOnError)
	job := jobcli.Register(fs, jobcli.Flags{Mode: "stream", Epoch: 200 * time.Millisecond})
	out := fs.String("out", "", "output folder")
	blockAfter := fs.Int64("block-after", 0, "block every split after this many records")
	if err := jobcli.Parse(fs, args, job); err != nil {
		jobcli.Exit("testjob", err)
	}
	ctx := context.Background()
	cfg, err := job.Config(ctx)
	if err != nil {
		jobcli.Exit("testjob", err)
	}
	cfg.BatchWait = 20 * time.Millisecond
	p := pipeline.New()
	s := p.Root()
	recs := pipeline.Read[row](s, counter{blockAfter: *blockAfter}, pipeline.ReadName("Counter"))
	parquetio.Write(s, recs, parquetio.WriteConfig[row]{URL: *out, JobID: "testjob"})
	perSplit := transforms.CountPerKey(s.Scope("PerSplit"), transforms.KeyBy(s, windowing.Into(s, recs, windowing.Fixed{Size: time.Minute}),
		func(r row) string { return r.Split }))
	foreach.Write(s, perSplit, func(context.Context, transforms.KV[string, int64]) error { return nil })
	r := local.New(cfg)
	err = job.Run(ctx, r, p)
	fmt.Printf("records=%d\n", r.Stats().Records)
	jobcli.Exit("testjob", err)
}

// counter is an unbounded source: split "a" and "b" each produce records 0, 1, 2, … with event time = index
// seconds; the position is the next index.
type counter struct{ blockAfter int64 }

func (counter) Name() string  { return "counter" }
func (counter) Bounded() bool { return false }
func (counter) Splits(context.Context) ([]pipeline.Split, error) {
	return []pipeline.Split{{ID: "a"}, {ID: "b"}}, nil
}

func (c counter) Open(_ context.Context, sp pipeline.Split, pos []byte) (pipeline.SplitReader[row], error) {
	r := &counterReader{split: sp.ID, blockAfter: c.blockAfter}
	if pos != nil {
		n, err := strconv.ParseInt(string(pos), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("counter: split %s: bad position %q", sp.ID, pos)
		}
		r.next = n
	}
	return r, nil
}

type counterReader struct {
	split      string
	next       int64
	blockAfter int64
}

func (r *counterReader) ReadBatch(ctx context.Context, b *pipeline.Batch[row], lim pipeline.Limits) error {
	if r.blockAfter > 0 && r.next >= r.blockAfter {
		<-ctx.Done()
		return fmt.Errorf("counter: split %s: %w", r.split, ctx.Err())
	}
	time.Sleep(10 * time.Millisecond)
	for range min(lim.MaxRecords, 20) {
		b.Values = append(b.Values, row{Split: r.split, I: r.next})
		b.Times = append(b.Times, pipeline.Time(r.next*1000))
		r.next++
		if r.blockAfter > 0 && r.next >= r.blockAfter {
			break
		}
	}
	return nil
}

func (r *counterReader) Position() []byte { return []byte(strconv.FormatInt(r.next, 10)) }
func (r *counterReader) Close() error     { return nil }

// child is a running test job.
type child struct {
	cmd    *exec.Cmd
	stderr chan string // lines
	stdout *strings.Builder
	done   chan struct{}
}

func startJob(t *testing.T, args ...string) *child {
	t.Helper()
	argv, err := json.Marshal(args)
	require.NoError(t, err)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "JOBCLI_TEST_JOB="+string(argv))
	c := &child{cmd: cmd, stderr: make(chan string, 1000), stdout: &strings.Builder{}, done: make(chan struct{})}
	cmd.Stdout = c.stdout
	pr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			t.Log("job: " + sc.Text())
			select {
			case c.stderr <- sc.Text():
			default:
			}
		}
		close(c.done)
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return c
}

// waitLine waits for a stderr line containing s and returns it.
func (c *child) waitLine(t *testing.T, s string) string {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case l := <-c.stderr:
			if strings.Contains(l, s) {
				return l
			}
		case <-c.done:
			select {
			case l := <-c.stderr:
				if strings.Contains(l, s) {
					return l
				}
				continue
			default:
			}
			t.Fatalf("the job ended without a line with %q on its stderr", s)
		case <-deadline:
			t.Fatalf("no line with %q on the job's stderr", s)
		}
	}
}

// wait waits for the job to exit and returns its exit status and the records it reported.
func (c *child) wait(t *testing.T) (int, int64) {
	t.Helper()
	<-c.done
	err := c.cmd.Wait()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	var n int64 = -1
	if s, ok := strings.CutPrefix(strings.TrimSpace(c.stdout.String()), "records="); ok {
		n, _ = strconv.ParseInt(s, 10, 64)
	}
	return code, n
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// committedRows reads the rows of the committed Parquet files under dir.
func committedRows(t *testing.T, dir string) []row {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "part-*.parquet"))
	require.NoError(t, err)
	var rows []row
	for _, f := range files {
		rs, err := parquet.ReadFile[row](f)
		require.NoError(t, err)
		rows = append(rows, rs...)
	}
	return rows
}

// checkExactlyRead checks that the rows committed are, per split, exactly the records 0 … n-1 of the newest
// checkpoint's position n, and that the checkpoint counted them all.
func checkExactlyRead(t *testing.T, store local.CheckpointStore, rows []row) *local.Manifest {
	t.Helper()
	ctx := context.Background()
	list, err := local.ListCheckpoints(ctx, store)
	require.NoError(t, err)
	var newest string
	for _, c := range list {
		if !c.Savepoint && c.Complete {
			newest = c.Name
		}
	}
	require.NotEmpty(t, newest)
	m, err := local.ReadManifest(ctx, store, newest)
	require.NoError(t, err)
	bySplit := map[string][]int64{}
	for _, r := range rows {
		bySplit[r.Split] = append(bySplit[r.Split], r.I)
	}
	var records int64
	for _, sp := range m.Sources[0].Splits {
		next, err := strconv.ParseInt(string(sp.Pos), 10, 64)
		require.NoError(t, err)
		got := bySplit[sp.ID]
		slices.Sort(got)
		want := make([]int64, next)
		for i := range want {
			want[i] = int64(i)
		}
		require.Equal(t, want, got, "split %s: the committed rows are the records before the checkpoint's position %d", sp.ID, next)
		records += sp.Records
	}
	require.Equal(t, int64(len(rows)), records)
	return m
}

// SIGUSR1 takes a savepoint and the job goes on; SIGTERM stops it at the end of a micro-batch with a final
// checkpoint (exit 3) that holds exactly what was committed; started again, the job resumes there; SIGUSR2 stops
// it with a savepoint (exit 0).
func TestSignals(t *testing.T) {
	dir := t.TempDir()
	chk, out := filepath.Join(dir, "chk"), filepath.Join(dir, "out")
	store := local.DirStore(chk)
	ctx := context.Background()

	job := startJob(t, "-checkpoint", chk, "-out", out)
	waitFor(t, "a first checkpoint", func() bool {
		l, _ := local.ListCheckpoints(ctx, store)
		return len(l) > 0 && l[0].Complete
	})
	require.NoError(t, job.cmd.Process.Signal(syscall.SIGUSR1))
	line := job.waitLine(t, "start from it with -start-from")
	name := strings.Fields(line)[1]
	m, err := local.ReadManifest(ctx, store, "savepoint-"+name)
	require.NoError(t, err, line)
	require.NotEmpty(t, m.State)
	time.Sleep(300 * time.Millisecond) // the job goes on after the savepoint
	require.NoError(t, job.cmd.Process.Signal(syscall.SIGTERM))
	code, n := job.wait(t)
	require.Equal(t, jobcli.ExitStopped, code)
	rows := committedRows(t, out)
	require.Equal(t, int64(len(rows)), n, "every record the run read was committed")
	final := checkExactlyRead(t, store, rows)
	require.Greater(t, final.Epoch, m.Epoch)

	// Started again, the job resumes at the final checkpoint; SIGUSR2 stops it with a savepoint.
	job = startJob(t, "-checkpoint", chk, "-out", out, "-log-format", "json")
	job.waitLine(t, `"msg":"kappa: restored checkpoint"`)
	time.Sleep(500 * time.Millisecond)
	require.NoError(t, job.cmd.Process.Signal(syscall.SIGUSR2))
	line = job.waitLine(t, "start from it with -start-from")
	code, n2 := job.wait(t)
	require.Equal(t, jobcli.ExitOK, code)
	rows = committedRows(t, out)
	require.Greater(t, len(rows), len(rows)-int(n2))
	checkExactlyRead(t, store, rows)
	name = strings.Fields(line)[1]
	_, err = local.ReadManifest(ctx, store, "savepoint-"+name)
	require.NoError(t, err)

	// From that savepoint: the job reads on from it, exactly.
	job = startJob(t, "-checkpoint", chk, "-out", out, "-start-from", name)
	job.waitLine(t, "restored checkpoint")
	time.Sleep(300 * time.Millisecond)
	require.NoError(t, job.cmd.Process.Signal(syscall.SIGINT))
	code, _ = job.wait(t)
	require.Equal(t, jobcli.ExitStopped, code)
	checkExactlyRead(t, store, committedRows(t, out))
}

// A second SIGTERM aborts a job whose micro-batch does not end (its source blocks, like a Kafka poll): exit 5,
// nothing of that micro-batch committed, and the restart resumes from the last checkpoint.
func TestSecondSignalAborts(t *testing.T) {
	dir := t.TempDir()
	chk, out := filepath.Join(dir, "chk"), filepath.Join(dir, "out")
	job := startJob(t, "-checkpoint", chk, "-out", out, "-block-after", "400", "-epoch", "50ms")
	waitFor(t, "a first checkpoint", func() bool {
		l, _ := local.ListCheckpoints(context.Background(), local.DirStore(chk))
		return len(l) > 0 && l[0].Complete
	})
	time.Sleep(time.Second) // the splits block after 400 records, 20 every 10 ms
	require.NoError(t, job.cmd.Process.Signal(syscall.SIGTERM))
	job.waitLine(t, "stopping at the end of the micro-batch")
	time.Sleep(200 * time.Millisecond)
	require.NoError(t, job.cmd.Process.Signal(syscall.SIGTERM))
	code, _ := job.wait(t)
	require.Equal(t, jobcli.ExitAborted, code)
	checkExactlyRead(t, local.DirStore(chk), committedRows(t, out))
}

// Exit codes of usage errors and of a restore that cannot happen.
func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"-mode", "fast"}, jobcli.ExitUsage, `-mode "fast": want batch or stream`},
		{[]string{"-checkpoint", dir, "-out", dir, "-start-from", "nope"}, jobcli.ExitRestore, `savepoint "nope"`},
	} {
		job := startJob(t, tc.args...)
		line := job.waitLine(t, tc.msg)
		code, _ := job.wait(t)
		require.Equal(t, tc.code, code, line)
	}
}
