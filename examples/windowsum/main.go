// Command windowsum runs the reference workload W1 (a windowed sum per key over N synthetic events, see
// internal/w1) through kappa and prints one line:
//
//	events=1000000 rows=17629 checksum=2a64e42c53c30aca rate=12060350
//
// The checksum is the same whichever way the events travel (batch or stream, in memory, Parquet or Kafka) and is
// the one a plain Go loop computes (-bench prints both, with the ratio of their rates).
//
//	windowsum -n 1000000                                  # W1 generated in memory, batch
//	windowsum -n 1000000 -mode stream -batch 10000        # the same, streamed in micro-batches
//	windowsum -n 1000000 -window sliding                  # W1-sliding
//	windowsum -n 1000000 -write-parquet /tmp/w1           # write the events as Parquet (or s3://bucket/w1/)
//	windowsum -from /tmp/w1                               # run W1 over them
//	windowsum -n 1000000 -publish kafka://127.0.0.1:9092/w1
//	windowsum -from kafka://127.0.0.1:9092/w1 -mode stream  # stops once idle for -stop-idle
//	windowsum -from kafka://127.0.0.1:9092/w1 -mode stream -checkpoint /tmp/chk -to /tmp/rows
//	windowsum -check-output /tmp/rows                     # checksum of the rows written by -to
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
	"strings"
	"syscall"
	"time"

	"github.com/kappaflow/kappa/internal/w1"
	"github.com/kappaflow/kappa/io/parquetio"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/runners/local"
)

type options struct {
	n            int64
	mode         string
	batch        int
	window       string
	workers      int
	bench        bool
	cpuprofile   string
	progress     bool
	splits       int
	from         string
	to           string
	writeParquet string
	publish      string
	checkpoint   string
	checkOutput  string
	s3Endpoint   string
	stopIdle     time.Duration
	epoch        time.Duration
	stateMemory  int64
	metricsAddr  string
	live         float64
	wait         time.Duration
	idle         time.Duration
	startFrom    string
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
	flag.StringVar(&o.from, "from", "", "read the events from Parquet (folder, glob or s3:// URL) or Kafka (kafka://host:port/topic) instead of generating them")
	flag.StringVar(&o.to, "to", "", "also write the rows as Parquet to this folder or s3:// URL, or to kafka://host:port/topic[?transactional_id=ID] (exactly once with -checkpoint)")
	flag.StringVar(&o.writeParquet, "write-parquet", "", "write the generated events as Parquet to this folder or s3:// URL, then exit")
	flag.StringVar(&o.publish, "publish", "", "publish the generated events to kafka://host:port/topic, then exit")
	flag.StringVar(&o.checkpoint, "checkpoint", "", "checkpoint to this folder or s3:// URL (and restore from it on start)")
	flag.StringVar(&o.checkOutput, "check-output", "", "print the row count and checksum of the Parquet rows at this folder or s3:// URL, then exit")
	flag.StringVar(&o.s3Endpoint, "s3-endpoint", "", "S3-compatible endpoint for s3:// URLs, e.g. http://127.0.0.1:9100 (default $KAPPA_S3_ENDPOINT, else AWS)")
	flag.DurationVar(&o.stopIdle, "stop-idle", 5*time.Second, "stream mode over Kafka: drain and stop once no record arrived for this long")
	flag.DurationVar(&o.epoch, "epoch", time.Second, "time between epochs (sink commits and checkpoints) in stream mode or with -checkpoint")
	flag.Int64Var(&o.stateMemory, "state-memory", 0, "heap budget for keyed state in bytes; past it state spills to disk (0: no limit)")
	flag.StringVar(&o.metricsAddr, "metrics", "", "serve Prometheus metrics on this address during the run, e.g. 127.0.0.1:9464")
	flag.StringVar(&o.startFrom, "start-from", "", "with -checkpoint: start from this savepoint (taken on SIGUSR1, or on SIGUSR2 which also stops the job)")
	flag.DurationVar(&o.idle, "idle", 0, "exclude a Kafka partition from the watermark after this long without records (0: never)")
	flag.Float64Var(&o.live, "live", 0, "stream mode: release events in real time at this many per second, event time = release time (for latency; the checksum then differs from W1's)")
	flag.DurationVar(&o.wait, "wait", 0, "longest wait of a micro-batch for records (the batch interval of live streams; default the runner's 100ms)")
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
	lag      string // live runs: on-time pane emit lag quantiles
}

func (r result) rate() float64 { return float64(r.events) / r.elapsed.Seconds() }

func (r result) String() string {
	return fmt.Sprintf("events=%d rows=%d checksum=%s rate=%.0f%s", r.events, r.rows, w1.FormatChecksum(r.checksum), r.rate(), r.lag)
}

func run(ctx context.Context, o options, out io.Writer) error {
	if o.mode == "" {
		o.mode = "batch"
	}
	if o.window == "" {
		o.window = "fixed"
	}
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
	switch {
	case o.writeParquet != "" || o.publish != "":
		return runWrite(ctx, o, out)
	case o.checkOutput != "":
		return runCheckOutput(ctx, o, out)
	}
	res, err := runKappa(ctx, o)
	if err != nil {
		return err
	}
	if o.bench {
		res.lag += " peak_rss=" + peakRSS()
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

// peakRSS returns the process's peak resident set size (VmHWM), e.g. "123MiB", or "?" where /proc is missing.
func peakRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb); err == nil {
				return fmt.Sprintf("%dMiB", kb>>10)
			}
		}
	}
	return "?"
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
	var events pipeline.PCollection[w1.Event]
	if o.from != "" {
		var err error
		if events, err = readEvents(s, o); err != nil {
			return result{}, err
		}
	} else if o.live > 0 {
		events = pipeline.Read(s, w1.LiveSource{N: o.n, Rate: o.live, Parts: splits, Start: time.Now()}, pipeline.OutOfOrderness(time.Duration(w1.MaxDelay)*time.Millisecond))
	} else {
		events = pipeline.Read(s, w1.Source{N: o.n, Parts: splits}, pipeline.OutOfOrderness(time.Duration(w1.MaxDelay)*time.Millisecond))
	}
	rows := WindowSum(s, events, o.window == "sliding")
	sink := newChecksumSink()
	pipeline.Write(s, rows, pipeline.Sink[w1.Row](sink))
	if o.to != "" {
		if err := writeRows(s, rows, o); err != nil {
			return result{}, err
		}
	}
	cfg, err := runnerConfig(ctx, o)
	if err != nil {
		return result{}, err
	}
	start := time.Now()
	r := local.New(cfg)
	if o.checkpoint != "" {
		stop := savepointOnSignal(ctx, r)
		defer stop()
	}
	if err := r.Run(ctx, p); err != nil {
		return result{}, err
	}
	sum, n := sink.result()
	st := r.Stats()
	res := result{events: st.Records, rows: n, checksum: sum, elapsed: time.Since(start)}
	if isKafka(o.from) && o.mode == "stream" && res.elapsed > o.stopIdle+100*time.Millisecond {
		res.elapsed -= o.stopIdle // the run waited that long after the last record before draining
	}
	if o.live > 0 {
		res.lag = fmt.Sprintf(" lag_p50=%s lag_p99=%s", st.LagQuantile(0.5).Round(time.Millisecond), st.LagQuantile(0.99).Round(time.Millisecond))
	}
	return res, nil
}

// logger logs warnings and errors, and with -progress also progress and commits.
func logger(o options) *slog.Logger {
	level := slog.LevelWarn
	if o.progress {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

func runnerConfig(ctx context.Context, o options) (local.Config, error) {
	cfg := local.Config{Workers: o.workers, BatchRecords: o.batch, StateMemory: o.stateMemory, MetricsAddr: o.metricsAddr,
		BatchWait: o.wait, Logger: logger(o), EpochHook: crashHook()}
	if o.mode == "stream" {
		cfg.Mode = local.Stream
		cfg.EpochInterval = o.epoch
		if isKafka(o.from) {
			cfg.StopWhenIdle = o.stopIdle
		}
	}
	if o.progress {
		cfg.Progress = os.Stderr
	}
	if o.checkpoint != "" {
		st, err := checkpointStore(ctx, o)
		if err != nil {
			return cfg, err
		}
		cfg.Checkpoints = st
		cfg.EpochInterval = o.epoch
		cfg.StartFrom = o.startFrom
	}
	return cfg, nil
}

// savepointOnSignal takes a savepoint on SIGUSR1 and stops the job with one on SIGUSR2, printing its name to
// stderr; start a job from it with -start-from NAME.
func savepointOnSignal(ctx context.Context, r *local.Runner) (stop func()) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGUSR2)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case sig := <-sigs:
				name := time.Now().UTC().Format("20060102T150405Z")
				var err error
				if sig == syscall.SIGUSR2 {
					err = r.StopWithSavepoint(ctx, name)
				} else {
					err = r.Savepoint(ctx, name)
				}
				if err != nil {
					fmt.Fprintln(os.Stderr, "windowsum: savepoint:", err)
					continue
				}
				fmt.Fprintf(os.Stderr, "windowsum: savepoint %s written (start from it with -start-from %s)\n", name, name)
			}
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(done)
	}
}

// runWrite generates the events and writes them to Parquet (-write-parquet) and/or Kafka (-publish).
func runWrite(ctx context.Context, o options, out io.Writer) error {
	p := pipeline.New()
	s := p.Root()
	splits, workers := o.splits, o.workers
	if splits <= 0 {
		splits = workersOf(o)
	}
	if o.publish != "" {
		// One writer, in event order: records of one partition must stay within W1's 2 s of disorder, which
		// concurrent writers interleaving their batches would break.
		splits, workers = 1, 1
	}
	events := pipeline.Read(s, w1.Source{N: o.n, Parts: splits})
	if err := writeEvents(s, events, o); err != nil {
		return err
	}
	cfg, err := runnerConfig(ctx, options{workers: workers, batch: o.batch, progress: o.progress, mode: "batch", s3Endpoint: o.s3Endpoint})
	if err != nil {
		return err
	}
	start := time.Now()
	if err := local.New(cfg).Run(ctx, p); err != nil {
		return err
	}
	el := time.Since(start)
	var to []string
	for _, u := range []string{o.writeParquet, o.publish} {
		if u != "" {
			to = append(to, u)
		}
	}
	fmt.Fprintf(out, "events=%d wrote=%s rate=%.0f\n", o.n, strings.Join(to, ","), float64(o.n)/el.Seconds())
	return nil
}

// runCheckOutput reads the rows a -to run wrote and prints their count and checksum.
func runCheckOutput(ctx context.Context, o options, out io.Writer) error {
	p := pipeline.New()
	s := p.Root()
	rows := parquetio.Read(s, parquetio.ReadConfig[w1.Row]{URL: o.checkOutput, S3: s3Config(o), Logger: logger(o)})
	sink := newChecksumSink()
	pipeline.Write(s, rows, pipeline.Sink[w1.Row](sink))
	cfg, err := runnerConfig(ctx, options{workers: o.workers, mode: "batch", s3Endpoint: o.s3Endpoint})
	if err != nil {
		return err
	}
	if err := local.New(cfg).Run(ctx, p); err != nil {
		return err
	}
	sum, n := sink.result()
	fmt.Fprintf(out, "rows=%d checksum=%s\n", n, w1.FormatChecksum(sum))
	return nil
}
