// Command analytics is analytics-on-write: page-view events are aggregated as they arrive into per-URL, per-minute
// view counts and unique users, which are written out as files and printed as a table.
//
//	go run ./examples/analytics                          # 2000 generated views over 5 minutes (make demo)
//	go run ./examples/analytics -n 100000 -minutes 60 -seed 7 -out /tmp/views -format jsonl
//	go run ./examples/analytics -kappa                   # analytics-on-write end to end (make demo), see kappa.go
//	go run ./examples/analytics -kappa -pg postgres://user@host/db   # into an existing PostgreSQL
//
// The pipeline is BuildPageViews (pageviews.go); the events come from a deterministic generator (generate.go) and
// the rows go to a FileSink (filesink.go) that publishes each file atomically, exactly once. Unique users are
// counted exactly, with a set per URL and minute.
package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kappaflow/kappa/io/foreach"
	"github.com/kappaflow/kappa/jobcli"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/runners/local"
)

type options struct {
	n       int64
	seed    uint64
	minutes int
	users   int
	out     string
	format  string
	mode    string
	workers int
	kappa   bool
	status  string
	pg      string
	job     *jobcli.Flags // the job flags (-mode, -workers, -status, -log-level …) when run from the command line
}

// start is the event time of the first generated view.
var start = time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)

func main() {
	var o options
	flag.Int64Var(&o.n, "n", 2000, "number of page views to generate")
	flag.Uint64Var(&o.seed, "seed", 1, "generator seed")
	flag.IntVar(&o.minutes, "minutes", 5, "minutes of event time the views span")
	flag.IntVar(&o.users, "users", 150, "number of distinct users")
	flag.StringVar(&o.out, "out", "", "output directory (default: a new temporary directory)")
	flag.StringVar(&o.format, "format", "csv", "output format: csv or jsonl")
	flag.BoolVar(&o.kappa, "kappa", false, "the Kappa demo: publish the views to an embedded Kafka broker and archive them as Parquet, run the pipeline live over Kafka and as a replay over the archive, print both side by side (-out names the archive folder)")
	flag.StringVar(&o.pg, "pg", "", "with -kappa, the PostgreSQL database the live job upserts its rows into: a DSN, \"off\", or \"\" (default) to start a private cluster in a temporary folder when PostgreSQL is installed and go without it otherwise")
	// -mode, -workers, -status, -checkpoint, -log-level … and the signals and exit codes of every kappa job (jobcli).
	// With -kappa, -status serves the live job's status page (default 127.0.0.1:0: a free port).
	job := jobcli.Register(flag.CommandLine, jobcli.Flags{Mode: "batch", LogLevel: "warn"})
	err := jobcli.Parse(flag.CommandLine, os.Args[1:], job)
	if err == nil {
		o.mode, o.workers, o.status, o.job = job.Mode, job.Workers, job.Status, job
		if o.kappa && !jobcli.Given(flag.CommandLine)["status"] {
			o.status = "127.0.0.1:0"
		}
		err = run(context.Background(), o, os.Stdout)
	}
	jobcli.Exit("analytics", err)
}

func run(ctx context.Context, o options, out io.Writer) error {
	if o.mode != "batch" && o.mode != "stream" {
		return fmt.Errorf("-mode %q: want batch or stream", o.mode)
	}
	if o.n < 0 || o.minutes < 1 {
		return fmt.Errorf("-n %d -minutes %d: want n ≥ 0 and at least one minute", o.n, o.minutes)
	}
	if o.kappa {
		return runKappa(ctx, o, out)
	}
	if o.out == "" {
		dir, err := os.MkdirTemp("", "kappa-analytics-")
		if err != nil {
			return err
		}
		o.out = dir
	}
	sink := FileSink{Dir: o.out, Format: o.format}
	if err := sink.Validate(); err != nil {
		return err
	}

	p := pipeline.New()
	s := p.Root()
	gen := Generator{N: o.n, Seed: o.seed, Start: start, Span: time.Duration(o.minutes) * time.Minute, Users: o.users, Parts: 4}
	events := gen.Read(s)
	rows := BuildPageViews(s, events)
	pipeline.Write(s.Scope("Files"), rows, pipeline.Sink[Row](sink))
	table := collect(s.Scope("Table"), rows) // the rows in memory, for the table

	cfg := local.Config{Workers: o.workers, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	if o.job != nil {
		var err error
		if cfg, err = o.job.Config(ctx); err != nil {
			return err
		}
	}
	if o.mode == "stream" {
		cfg.Mode = local.Stream
		cfg.BatchRecords = 256
	}
	runJob := local.New(cfg).Run
	if o.job != nil {
		runJob = func(ctx context.Context, p *pipeline.Pipeline) error { return o.job.Run(ctx, local.New(cfg), p) } // signals
	}
	if err := runJob(ctx, p); err != nil {
		return err
	}

	got := table.values()
	fmt.Fprintf(out, "kappa analytics-on-write: %d page views (seed %d) → views and unique users (exact) per URL and minute\n\n", o.n, o.seed)
	printTable(out, got)
	files, _ := filepath.Glob(filepath.Join(o.out, sink.prefix()+"-*."+sink.ext()))
	plural := "s"
	if len(files) == 1 {
		plural = ""
	}
	fmt.Fprintf(out, "\n%d rows written as %s to %s (%d file%s)\n", len(got), strings.ToUpper(sink.ext()), o.out, len(files), plural)
	return nil
}

// printTable prints rows by minute, then most viewed first.
func printTable(out io.Writer, rows []Row) {
	slices.SortFunc(rows, func(a, b Row) int {
		return cmp.Or(a.Minute.Compare(b.Minute), cmp.Compare(b.Views, a.Views), strings.Compare(a.URL, b.URL))
	})
	width := len("url")
	for _, r := range rows {
		width = max(width, len(r.URL))
	}
	fmt.Fprintf(out, "%-16s  %-*s  %6s  %12s\n", "minute (UTC)", width, "url", "views", "unique users")
	for _, r := range rows {
		fmt.Fprintf(out, "%-16s  %-*s  %6d  %12d\n", r.Minute.Format("2006-01-02 15:04"), width, r.URL, r.Views, r.UniqueUsers)
	}
}

// collected holds the values of a collection, gathered by a foreach sink. It is at-least-once: exact for a run
// without checkpoints, as here.
type collected[T any] struct {
	mu   sync.Mutex
	vals []T
}

func collect[T any](s pipeline.Scope, col pipeline.PCollection[T]) *collected[T] {
	c := &collected[T]{}
	foreach.Write(s, col, func(_ context.Context, v T) error {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.vals = append(c.vals, v)
		return nil
	})
	return c
}

// values returns a copy of what was gathered so far.
func (c *collected[T]) values() []T {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.vals)
}
