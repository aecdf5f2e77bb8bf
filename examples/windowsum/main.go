// Command windowsum runs the reference workload W1 (a windowed sum per key over N synthetic events, see
// internal/w1) through kappa and prints one line:
//
//	events=1000000 rows=17000 checksum=0123456789abcdef rate=12345678
//
// The checksum is the same whichever way the events travel (batch or stream, in memory, Parquet or Kafka) and is
// the one a plain Go loop computes (-bench prints both, with the ratio of their rates).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/kappaflow/kappa/internal/w1"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/runners/local"
)

type options struct {
	n          int64
	mode       string
	batch      int
	window     string
	workers    int
	bench      bool
	cpuprofile string
	progress   bool
	splits     int
}

func main() {
	var o options
	flag.Int64Var(&o.n, "n", 1_000_000, "number of events")
	flag.StringVar(&o.mode, "mode", "batch", "batch or stream")
	flag.IntVar(&o.batch, "batch", 0, "records per split per micro-batch (default: the runner's)")
	flag.StringVar(&o.window, "window", "fixed", "fixed (1 min) or sliding (5 min every 1 min)")
	flag.IntVar(&o.workers, "workers", 0, "workers (default GOMAXPROCS)")
	flag.BoolVar(&o.bench, "bench", false, "also run the plain Go loop and print both rates and their ratio")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the kappa run to this file")
	flag.BoolVar(&o.progress, "progress", false, "print progress lines")
	flag.IntVar(&o.splits, "splits", 0, "source splits for generated events (default 4 × workers)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "windowsum:", err)
		os.Exit(1)
	}
}

type result struct {
	events   int64
	rows     int64
	checksum uint64
	elapsed  time.Duration
}

func (r result) rate() float64 { return float64(r.events) / r.elapsed.Seconds() }

func (r result) String() string {
	return fmt.Sprintf("events=%d rows=%d checksum=%s rate=%.0f", r.events, r.rows, w1.FormatChecksum(r.checksum), r.rate())
}

func run(ctx context.Context, o options, out io.Writer) error {
	if o.window != "fixed" && o.window != "sliding" {
		return fmt.Errorf("-window %q: want fixed or sliding", o.window)
	}
	if o.mode != "batch" && o.mode != "stream" {
		return fmt.Errorf("-mode %q: want batch or stream", o.mode)
	}
	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	res, err := runKappa(ctx, o)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, res)
	if o.bench {
		start := time.Now()
		sum, rows := w1.PlainLoop(o.n, o.window == "sliding")
		plain := result{events: o.n, rows: int64(rows), checksum: sum, elapsed: time.Since(start)}
		fmt.Fprintf(out, "plain-loop %s\n", plain)
		fmt.Fprintf(out, "ratio=%.2f gomaxprocs=%d workers=%d mode=%s window=%s\n", res.rate()/plain.rate(),
			runtime.GOMAXPROCS(0), workersOf(o), o.mode, o.window)
		if plain.checksum != res.checksum || plain.rows != res.rows {
			return errors.New("kappa and the plain loop disagree")
		}
	}
	return nil
}

func workersOf(o options) int {
	if o.workers > 0 {
		return o.workers
	}
	return runtime.GOMAXPROCS(0)
}

func runKappa(ctx context.Context, o options) (result, error) {
	p := pipeline.New()
	s := p.Root()
	splits := o.splits
	if splits <= 0 {
		splits = 4 * workersOf(o)
	}
	events := pipeline.Read(s, w1.Source{N: o.n, Parts: splits}, pipeline.OutOfOrderness(time.Duration(w1.MaxDelay)*time.Millisecond))
	rows := WindowSum(s, events, o.window == "sliding")
	sink := newChecksumSink()
	pipeline.Write(s, rows, pipeline.Sink[w1.Row](sink))
	cfg := local.Config{Workers: o.workers, BatchRecords: o.batch, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	if o.mode == "stream" {
		cfg.Mode = local.Stream
	}
	if o.progress {
		cfg.Progress = os.Stderr
	}
	start := time.Now()
	if err := local.New(cfg).Run(ctx, p); err != nil {
		return result{}, err
	}
	sum, n := sink.result()
	return result{events: o.n, rows: n, checksum: sum, elapsed: time.Since(start)}, nil
}
