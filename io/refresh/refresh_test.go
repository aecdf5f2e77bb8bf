package refresh_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/io/parquetio"
	"github.com/kappaflow/kappa/io/refresh"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

var quiet = slog.New(slog.DiscardHandler)

type Rate struct {
	Currency string  `parquet:"currency"`
	Rate     float64 `parquet:"rate"`
}

func decodeRate(r refresh.CSVRow) (Rate, error) {
	v, err := strconv.ParseFloat(r.Get("rate"), 64)
	if err != nil {
		return Rate{}, fmt.Errorf("rate of %q: %w", r.Get("currency"), err)
	}
	return Rate{Currency: r.Get("currency"), Rate: v}, nil
}

// writeAtomic replaces path with content the way a producer of a lookup file should: a temporary file renamed
// over the old one.
func writeAtomic(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	require.NoError(t, os.WriteFile(tmp, []byte(content), 0o644))
	require.NoError(t, os.Rename(tmp, path))
}

// lockedBuffer is a log sink shared by the run's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// countingLoad wraps a Load and counts the calls that finished.
func countingLoad[T any](load func(context.Context) ([]T, error), n *atomic.Int64) func(context.Context) ([]T, error) {
	return func(ctx context.Context) ([]T, error) {
		defer n.Add(1)
		return load(ctx)
	}
}

// ratesJob is a stream job whose main input (queries, one per second of event time in 2024) reads a refreshed
// CSV file of rates as AsMap (with Snapshots) and AsIter, and counts the queries per 10 s window downstream.
type ratesJob struct {
	queries *pipelinetest.Feed[string]
	answers *pipelinetest.Result[string]
	counts  *pipelinetest.Result[string]
	n       int
}

var t0 = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

func (j *ratesJob) build(cfg refresh.Config[Rate]) *pipeline.Pipeline {
	p := pipeline.New()
	s := p.Root()
	rates := refresh.Read(s.Scope("rates"), cfg)
	byCurrency := transforms.AsMap(s, transforms.KeyBy(s, rates, func(r Rate) string { return r.Currency }), transforms.Snapshots())
	all := transforms.AsIter(s, rates)
	queries := pipeline.Read(s.Scope("queries"), pipeline.Source[string](j.queries))
	answers := transforms.MapWithSide(s, queries, func(q string, side transforms.Side) string {
		var rows []string
		for k, r := range byCurrency.All(side) {
			rows = append(rows, fmt.Sprintf("%s=%.2f", k, r.Rate))
		}
		slices.Sort(rows)
		return fmt.Sprintf("%s %d/%d [%s]", q, byCurrency.Len(side), all.Len(side), strings.Join(rows, " "))
	}, byCurrency, all)
	pipeline.Write(s, answers, pipeline.Sink[string](j.answers))
	perWindow := transforms.CountAll(s, windowing.Into(s, answers, windowing.Fixed{Size: 10 * time.Second}))
	pipeline.Write(s, transforms.MapWindowed(s, perWindow, func(n int64, w pipeline.Window) string {
		return fmt.Sprintf("%s:%d", w.Start.Std().Format("15:04:05"), n)
	}), pipeline.Sink[string](j.counts))
	return p
}

// probe sends queries, one at a time, until the answer to one ends with want; it returns that answer's query
// number.
func (j *ratesJob) probe(t *testing.T, ctx context.Context, want string) int {
	t.Helper()
	for ctx.Err() == nil {
		j.n++
		j.queries.Send("0", pipelinetest.At(fmt.Sprintf("q%03d", j.n), t0.Add(time.Duration(j.n)*time.Second)))
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) && len(j.answers.Values()) < j.n {
			time.Sleep(2 * time.Millisecond)
		}
		vals := j.answers.Values()
		require.Len(t, vals, j.n, "query %d unanswered", j.n)
		if strings.HasSuffix(vals[j.n-1], want) {
			return j.n
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no answer %q before the deadline: %q", want, j.answers.Values())
	return 0
}

// A stream job reads a CSV file of rates refreshed every 100 ms while the file is rewritten: the main elements
// after the next refresh see the new rates and not the deleted row (GBP); each main element sees one whole
// snapshot, never a mix. A file rewritten with a bad line fails its reloads: the previous snapshot stays, the
// failures are logged with the file name and counted as dead letters of the source, and once the file is fixed
// the next refresh applies. Meanwhile the windows downstream of the side input fire as the main input's event
// time advances: the refresh source does not hold the watermark back.
func TestRefreshCSVRewrittenWhileStreaming(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rates.csv")
	writeAtomic(t, path, "currency,rate\nEUR,1.10\nUSD,1.00\nGBP,0.90\n")
	var loads atomic.Int64
	logs := &lockedBuffer{}
	j := &ratesJob{queries: pipelinetest.NewFeed[string]("0"), answers: pipelinetest.NewResult[string](), counts: pipelinetest.NewResult[string]()}
	p := j.build(refresh.Config[Rate]{Name: path, Every: 100 * time.Millisecond,
		Load: countingLoad(refresh.CSVLoad(refresh.CSVConfig[Rate]{URL: path, Columns: []string{"currency", "rate"}, Decode: decodeRate}), &loads)})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := local.New(local.Config{Mode: local.Stream, Workers: 2, BatchWait: 5 * time.Millisecond, EpochInterval: 10 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	var wg sync.WaitGroup
	var runErr error
	wg.Go(func() { runErr = r.Run(ctx, p) })

	const v1, v2, v3 = "3/3 [EUR=1.10 GBP=0.90 USD=1.00]", "3/3 [CHF=0.95 EUR=1.20 USD=1.00]", "2/2 [EUR=1.30 USD=1.00]"
	j.probe(t, ctx, v1)
	writeAtomic(t, path, "currency,rate\nEUR,1.20\nUSD,1.00\nCHF,0.95\n")
	first2 := j.probe(t, ctx, v2)

	// A broken file: reloads fail, v2 stays.
	writeAtomic(t, path, "currency,rate\nEUR,1.25\nUSD,oops\n")
	for ctx.Err() == nil && r.Stats().DeadLettered[path] < 2 {
		time.Sleep(10 * time.Millisecond)
	}
	require.GreaterOrEqual(t, r.Stats().DeadLettered[path], int64(2), "failed reloads are counted as the source's dead letters")
	broken := j.probe(t, ctx, v2)
	require.Contains(t, logs.String(), "refresh: reload failed; keeping the previous snapshot")
	require.Contains(t, logs.String(), path+" line 3: rate of \\\"USD\\\"", "the failure names the file and line")

	writeAtomic(t, path, "currency,rate\nEUR,1.30\nUSD,1.00\n")
	first3 := j.probe(t, ctx, v3)
	require.Greater(t, loads.Load(), int64(4))

	// The windows downstream fire while the job runs: 10 s windows of event time, one query per second; a query a
	// minute later moves the main input's watermark past the windows of the queries so far.
	j.n++
	j.queries.Send("0", pipelinetest.At(fmt.Sprintf("q%03d", j.n), t0.Add(time.Minute)))
	for ctx.Err() == nil && len(j.counts.Values()) == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	require.NotEmpty(t, j.counts.Values(), "no window fired while the job ran: the watermark is held back")
	cancel()
	wg.Wait()
	require.ErrorIs(t, runErr, context.Canceled)

	seen := 1 // the snapshot each answer showed: never goes back, never a mix
	for i, a := range j.answers.Values() {
		q := i + 1
		switch {
		case strings.HasSuffix(a, v1):
			require.Less(t, q, first2, a)
			require.Equal(t, 1, seen, a)
		case strings.HasSuffix(a, v2):
			require.GreaterOrEqual(t, q, first2, a)
			require.Less(t, q, first3, a)
			seen = 2
		case strings.HasSuffix(a, v3):
			require.GreaterOrEqual(t, q, first3, a)
			seen = 3
		default:
			t.Fatalf("answer %q shows no whole snapshot", a)
		}
	}
	require.Greater(t, broken, first2)
}

// The first load must succeed (main elements would wait forever for a snapshot); with MaxFailures, that many
// failed reloads in a row fail the run, naming the source and the last error. An empty file is a failed load.
func TestRefreshFailures(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rates.csv")
	load := refresh.CSVLoad(refresh.CSVConfig[Rate]{URL: path, Decode: decodeRate})
	run := func(cfg refresh.Config[Rate], during func()) error {
		j := &ratesJob{queries: pipelinetest.NewFeed[string]("0"), answers: pipelinetest.NewResult[string](), counts: pipelinetest.NewResult[string]()}
		p := j.build(cfg)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if during != nil {
			go func() {
				j.probe(t, ctx, "[EUR=1.10]")
				during()
			}()
		}
		err := local.New(local.Config{Mode: local.Stream, Workers: 1, BatchWait: 5 * time.Millisecond, EpochInterval: 10 * time.Millisecond, Logger: quiet}).Run(ctx, p)
		require.NotErrorIs(t, err, context.DeadlineExceeded, "the run hung")
		return err
	}
	t.Run("first load", func(t *testing.T) {
		err := run(refresh.Config[Rate]{Name: path, Every: time.Hour, Load: load}, nil)
		require.ErrorContains(t, err, path+": split snapshots: first load: ")
		require.ErrorIs(t, err, os.ErrNotExist)
	})
	t.Run("empty first load", func(t *testing.T) {
		writeAtomic(t, path, "currency,rate\n")
		err := run(refresh.Config[Rate]{Name: path, Every: time.Hour, Load: load}, nil)
		require.ErrorIs(t, err, refresh.ErrEmptySnapshot)
	})
	t.Run("MaxFailures", func(t *testing.T) {
		writeAtomic(t, path, "currency,rate\nEUR,1.10\n")
		err := run(refresh.Config[Rate]{Name: path, Every: 20 * time.Millisecond, MaxFailures: 3, Load: load}, func() {
			writeAtomic(t, path, "currency\nEUR\n")
		})
		require.ErrorContains(t, err, path+": split snapshots: 3 reloads in a row failed (MaxFailures 3), the last one: ")
		require.ErrorContains(t, err, path+` line 2: rate of "EUR"`)
	})
}

// Configuration errors are construction errors of the pipeline.
func TestRefreshConfigErrors(t *testing.T) {
	load := func(context.Context) ([]int, error) { return []int{1}, nil }
	for _, tc := range []struct {
		cfg  refresh.Config[int]
		want string
	}{
		{refresh.Config[int]{Every: time.Second}, "Config.Load is nil"},
		{refresh.Config[int]{Load: load}, "Config.Every is 0s"},
		{refresh.Config[int]{Load: load, Every: time.Second, MaxFailures: -1}, "Config.MaxFailures is -1"},
	} {
		p := pipeline.New()
		refresh.Read(p.Root(), tc.cfg)
		require.ErrorContains(t, p.Err(), tc.want)
	}
	p := pipeline.New()
	refresh.Read(p.Root(), refresh.Config[int]{Load: load, Bounded: true})
	require.NoError(t, p.Err(), "Bounded needs no Every")
}

// In batch mode (Bounded) the source loads once — here a Parquet folder through parquetio's reader — and every
// main element sees that complete snapshot.
func TestRefreshBatchLoadsParquetOnce(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, parquet.WriteFile(filepath.Join(dir, "a.parquet"), []Rate{{"EUR", 1.1}, {"USD", 1.0}}))
	require.NoError(t, parquet.WriteFile(filepath.Join(dir, "b.parquet"), []Rate{{"GBP", 0.9}}))
	var loads atomic.Int64
	p := pipeline.New()
	s := p.Root()
	rates := refresh.Read(s, refresh.Config[Rate]{Bounded: true, Name: dir,
		Load: countingLoad(refresh.ParquetLoad(parquetio.ReadConfig[Rate]{URL: dir + "/", Logger: quiet}), &loads)})
	byCurrency := transforms.AsMap(s, transforms.KeyBy(s, rates, func(r Rate) string { return r.Currency }), transforms.Snapshots())
	out := transforms.MapWithSide(s, pipelinetest.Create(s, "EUR", "GBP", "CHF"), func(c string, side transforms.Side) string {
		r, ok := byCurrency.Lookup(side, c)
		return fmt.Sprintf("%s %.2f %v of %d", c, r.Rate, ok, byCurrency.Len(side))
	}, byCurrency)
	res := pipelinetest.Collect(s, out)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, local.New(local.Config{Workers: 2, Logger: quiet}).Run(ctx, p))
	require.ElementsMatch(t, []string{"EUR 1.10 true of 3", "GBP 0.90 true of 3", "CHF 0.00 false of 3"}, res.Values())
	require.Equal(t, int64(1), loads.Load())
}

// ParquetLoad lists its input again on every call: a file removed from the folder is gone from the next
// snapshot, a file added is in it, and a file that is not Parquet fails the load naming it.
func TestParquetLoadRelists(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, parquet.WriteFile(filepath.Join(dir, "a.parquet"), []Rate{{"EUR", 1.1}}))
	require.NoError(t, parquet.WriteFile(filepath.Join(dir, "b.parquet"), []Rate{{"GBP", 0.9}}))
	load := refresh.ParquetLoad(parquetio.ReadConfig[Rate]{URL: dir + "/", Logger: quiet})
	ctx := context.Background()
	rows, err := load(ctx)
	require.NoError(t, err)
	require.ElementsMatch(t, []Rate{{"EUR", 1.1}, {"GBP", 0.9}}, rows)
	require.NoError(t, os.Remove(filepath.Join(dir, "b.parquet")))
	require.NoError(t, parquet.WriteFile(filepath.Join(dir, "c.parquet"), []Rate{{"CHF", 0.95}}))
	rows, err = load(ctx)
	require.NoError(t, err)
	require.ElementsMatch(t, []Rate{{"EUR", 1.1}, {"CHF", 0.95}}, rows)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "d.parquet"), []byte("not parquet"), 0o644))
	_, err = load(ctx)
	require.ErrorContains(t, err, "d.parquet")
}

// CSVLoad: header columns by name, a missing column, comments, a file without a header, a bad line.
func TestCSVLoad(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		content string
		cfg     refresh.CSVConfig[Rate]
		want    []Rate
		wantErr string
	}{
		{"header", "rate,currency\n1.5,EUR\n2,USD\n", refresh.CSVConfig[Rate]{Decode: decodeRate}, []Rate{{"EUR", 1.5}, {"USD", 2}}, ""},
		{"missing column", "currency\nEUR\n", refresh.CSVConfig[Rate]{Columns: []string{"currency", "rate"}, Decode: decodeRate}, nil, `no column "rate" in the header`},
		{"semicolons and comments", "currency;rate\n# a comment\nEUR;1.5\n", refresh.CSVConfig[Rate]{Comma: ';', Comment: '#', Decode: decodeRate}, []Rate{{"EUR", 1.5}}, ""},
		{"no header", "EUR,1.5\n", refresh.CSVConfig[Rate]{NoHeader: true, Decode: func(r refresh.CSVRow) (Rate, error) {
			v, err := strconv.ParseFloat(r.Fields[1], 64)
			return Rate{Currency: r.Fields[0], Rate: v}, err
		}}, []Rate{{"EUR", 1.5}}, ""},
		{"bad line", "currency,rate\nEUR,1\nUSD,x\n", refresh.CSVConfig[Rate]{Decode: decodeRate}, nil, `line 3: rate of "USD"`},
		{"malformed", "currency,rate\n\"EUR,1\n", refresh.CSVConfig[Rate]{Decode: decodeRate}, nil, "line 2"},
		{"no decoder", "currency,rate\n", refresh.CSVConfig[Rate]{}, nil, "CSVConfig.Decode is nil"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".csv")
			require.NoError(t, os.WriteFile(path, []byte(tc.content), 0o644))
			tc.cfg.URL = path
			rows, err := refresh.CSVLoad(tc.cfg)(ctx)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				require.ErrorContains(t, err, path)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, rows)
		})
	}
	_, err := refresh.CSVLoad(refresh.CSVConfig[Rate]{URL: filepath.Join(dir, "missing.csv"), Decode: decodeRate})(ctx)
	require.True(t, errors.Is(err, os.ErrNotExist), "%v", err)
}

// answerTo sends query q and waits for its answer.
func (j *ratesJob) answerTo(t *testing.T, q string, at time.Time) string {
	t.Helper()
	j.queries.Send("0", pipelinetest.At(q, at))
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, a := range j.answers.Values() {
			if strings.HasPrefix(a, q+" ") {
				return a
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("query %s unanswered: %q", q, j.answers.Values())
	return ""
}

// The views' snapshot is in checkpoints and the generation counts on: a job that loaded v1 is stopped, the file
// is broken meanwhile, and the restored job serves v1 from its checkpoint although its first load fails (counted
// as a dead letter); once the file is fixed, the next load (a later generation) replaces the restored snapshot.
func TestRefreshCheckpointRestore(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rates.csv")
	store := local.DirStore(filepath.Join(dir, "checkpoints"))
	writeAtomic(t, path, "currency,rate\nEUR,1.10\n")
	j := &ratesJob{queries: pipelinetest.NewFeed[string]("0"), answers: pipelinetest.NewResult[string](), counts: pipelinetest.NewResult[string]()}
	cfg := refresh.Config[Rate]{Name: path, Every: 50 * time.Millisecond,
		Load: refresh.CSVLoad(refresh.CSVConfig[Rate]{URL: path, Decode: decodeRate})}
	start := func(ctx context.Context, workers int) (*local.Runner, func() error) {
		r := local.New(local.Config{Mode: local.Stream, Workers: workers, BatchWait: 5 * time.Millisecond,
			EpochInterval: 10 * time.Millisecond, Checkpoints: store, Logger: quiet})
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx, j.build(cfg)) }()
		return r, func() error { return <-done }
	}

	ctx1, cancel1 := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel1()
	_, wait1 := start(ctx1, 2)
	require.Equal(t, "a1 1/1 [EUR=1.10]", j.answerTo(t, "a1", t0))
	time.Sleep(100 * time.Millisecond) // a few checkpoints
	cancel1()
	require.ErrorIs(t, wait1(), context.Canceled)

	writeAtomic(t, path, "currency,rate\nEUR,broken\n")
	ctx2, cancel2 := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel2()
	r2, wait2 := start(ctx2, 3)
	for ctx2.Err() == nil && r2.Stats().DeadLettered[path] == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	require.Equal(t, "b1 1/1 [EUR=1.10]", j.answerTo(t, "b1", t0.Add(time.Second)), "the restored snapshot")
	writeAtomic(t, path, "currency,rate\nEUR,1.20\nUSD,1.00\n")
	for i := 2; ; i++ {
		a := j.answerTo(t, fmt.Sprintf("b%d", i), t0.Add(time.Duration(i)*time.Second))
		if strings.HasSuffix(a, "2/2 [EUR=1.20 USD=1.00]") {
			break
		}
		require.Equal(t, fmt.Sprintf("b%d 1/1 [EUR=1.10]", i), a)
		time.Sleep(20 * time.Millisecond)
	}
	cancel2()
	require.ErrorIs(t, wait2(), context.Canceled)
}
