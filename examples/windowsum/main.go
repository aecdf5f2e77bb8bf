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
//	windowsum -n 10000000 -keys 10000000 -window global -state-memory 64000000  # W1-totals, state on disk
//	windowsum -n 1000000 -write-parquet /tmp/w1           # write the events as Parquet (or s3://bucket/w1/)
//	windowsum -from /tmp/w1                               # run W1 over them
//	windowsum -n 1000000 -publish kafka://127.0.0.1:9092/w1
//	windowsum -from kafka://127.0.0.1:9092/w1 -mode stream  # stops once idle for -stop-idle
//	windowsum -from kafka://127.0.0.1:9092/w1 -mode stream -checkpoint /tmp/chk -to /tmp/rows
//	windowsum -check-output /tmp/rows                     # checksum of the rows written by -to
//	windowsum -from /tmp/w1 -dead-letters /tmp/bad.jsonl  # unreadable input to a JSON-lines file, not a failure
//
// The line also reports what the run did not process as usual: late_dropped (records behind the allowed
// lateness), dead_letters (with -dead-letters) and future (records stamped far ahead of the clock; see
// -max-future-skew). Flags are checked before anything runs: a bad value or a combination that would be ignored
// is a usage error naming the flag (exit status 2).
//
// The job flags (-mode, -checkpoint, -start-from, -allow-non-restored-state, -epoch, -workers, -metrics, -status,
// -log-level, -log-format, -progress, -s3-endpoint), the signals (SIGTERM or Ctrl-C stops at the end of a
// micro-batch with a final checkpoint, SIGUSR1 takes a savepoint, SIGUSR2 stops with one) and the exit codes are
// those of every kappa job binary: see package jobcli and docs/operations.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/kappaflow/kappa/internal/w1"
	"github.com/kappaflow/kappa/io/foreach"
	"github.com/kappaflow/kappa/io/generate"
	"github.com/kappaflow/kappa/io/parquetio"
	"github.com/kappaflow/kappa/jobcli"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/runners/beam"
	"github.com/kappaflow/kappa/runners/local"
)

type options struct {
	job           jobcli.Flags // the job flags every kappa binary shares: -mode, -checkpoint, -workers, … (jobcli)
	beam          *beam.Flags  // -runner and Beam's options (beam.go)
	n             int64
	keys          uint64
	every         time.Duration
	deadLetters   string
	maxFutureSkew time.Duration
	batch         int
	window        string
	bench         bool
	cpuprofile    string
	memprofile    string
	splits        int
	from          string
	to            string
	writeParquet  string
	publish       string
	checkOutput   string
	stopIdle      time.Duration
	stateMemory   int64
	live          float64
	wait          time.Duration
	idle          time.Duration
}

// usageError is a bad flag: main prints it with a pointer to -help and exits with status 2 (jobcli.Exit).
type usageError = jobcli.UsageError

// parseFlags parses the command line into options and checks them (validate): every bad value or ignored
// combination is a usageError naming the flag.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("windowsum", flag.ContinueOnError)
	fs.SetOutput(stderr)
	// -mode, -checkpoint, -start-from, -allow-non-restored-state, -epoch, -workers, -status, -metrics, -log-level,
	// -log-format, -progress and -s3-endpoint: the flags of every kappa job (jobcli). W1 runs commit every second.
	job := jobcli.Register(fs, jobcli.Flags{Mode: "batch", Epoch: time.Second, LogLevel: "warn"})
	fs.Int64Var(&o.n, "n", 1_000_000, "number of events to generate")
	fs.IntVar(&o.batch, "batch", 0, "records read from each split per micro-batch: a micro-batch reads up to this many times the\nnumber of splits (default: the runner's 10000 per split)")
	fs.StringVar(&o.window, "window", "fixed", "fixed (1 min), sliding (5 min every 1 min) or global (W1-totals: one total per key)")
	fs.Uint64Var(&o.keys, "keys", 1000, "distinct keys (W1-totals: key = user- and h % keys, zero-padded)")
	fs.DurationVar(&o.every, "every", 10*time.Second, "-window global in stream mode: emit the totals of keys with new data this often (processing time;\ndiscarding panes), and the rest at the end of the input")
	fs.BoolVar(&o.bench, "bench", false, "also run the plain Go loop and print both rates and their ratio")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the kappa run to this file")
	fs.StringVar(&o.memprofile, "memprofile", "", "write a heap profile taken when the live heap peaked (sampled each second) to this file")
	fs.IntVar(&o.splits, "splits", 0, "source splits for generated events (default 4 × workers)")
	fs.StringVar(&o.from, "from", "", "read the events from Parquet (folder, glob or s3:// URL) or Kafka (kafka://host:port/topic) instead of generating them")
	fs.StringVar(&o.to, "to", "", "also write the rows as Parquet to this folder or s3:// URL, or to kafka://host:port/topic[?transactional_id=ID] (exactly once with -checkpoint)")
	fs.StringVar(&o.writeParquet, "write-parquet", "", "write the generated events as Parquet to this folder or s3:// URL, then exit")
	fs.StringVar(&o.publish, "publish", "", "publish the generated events to kafka://host:port/topic, then exit")
	fs.StringVar(&o.checkOutput, "check-output", "", "print the row count and checksum of the Parquet rows at this folder or s3:// URL, then exit")
	fs.DurationVar(&o.stopIdle, "stop-idle", 5*time.Second, "stream mode over Kafka: drain and stop once no record arrived for this long")
	fs.Int64Var(&o.stateMemory, "state-memory", 0, "heap budget for keyed state in bytes; past it state spills to disk (0: no limit)")
	fs.DurationVar(&o.idle, "idle", 0, "exclude a Kafka partition from the watermark after this long without records (0: never)")
	fs.Float64Var(&o.live, "live", 0, "stream mode: release events in real time at this many per second, event time = release time (for latency; the checksum then differs from W1's)")
	fs.DurationVar(&o.wait, "wait", 0, "longest wait of a micro-batch for records (the batch interval of live streams; default the runner's 100ms)")
	fs.StringVar(&o.deadLetters, "dead-letters", "", "with -from: write unreadable input (undecodable Kafka records, unreadable Parquet files, row groups or nulls)\nand records refused by -max-future-skew as JSON lines to this file, and go on, instead of failing")
	fs.DurationVar(&o.maxFutureSkew, "max-future-skew", 0, "with -from: refuse records stamped more than this ahead of the clock (dead letters with -dead-letters,\nelse the run fails); 0: count and log them only")
	o.beam = beam.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, usageError{Err: err}
	}
	set := jobcli.Given(fs)
	o.job = *job
	if o.job.Progress && !set["log-level"] {
		o.job.LogLevel = "info" // -progress also shows the info logs, as before the job flags
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q: every option is a flag", fs.Args()))
	}
	if err := o.job.Validate(set); err != nil {
		errs = append(errs, errors.Unwrap(err))
	}
	if err := o.validate(set); err != nil {
		errs = append(errs, errors.Unwrap(err))
	}
	if err := validateBeam(o, set); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return o, usageError{Err: errors.Join(errs...)}
	}
	return o, nil
}

// validate checks the options: values in range, and no flag that the chosen mode would ignore. set holds the
// flags given on the command line (nil when options come from code: then only values are checked).
func (o options) validate(set map[string]bool) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	given := func(name string) bool { return set[name] }
	if set == nil { // options from code: the job flags are checked here too
		if err := o.job.Validate(nil); err != nil {
			errs = append(errs, errors.Unwrap(err))
		}
	}
	generating := o.from == "" && o.checkOutput == ""
	if o.window != "" && o.window != "fixed" && o.window != "sliding" && o.window != "global" {
		bad("-window %q: want fixed, sliding or global", o.window)
	}
	if set != nil && o.keys == 0 {
		bad("-keys 0: want a number of keys ≥ 1")
	}
	if given("keys") && !generating {
		bad("-keys applies to generated events; -from reads the keys of its input")
	}
	if o.every < 0 || (given("every") && (o.every == 0 || o.window != "global" || o.job.Mode != "stream")) {
		bad("-every %v: a positive duration, with -window global -mode stream", o.every)
	}
	switch {
	case o.n < 0 || (o.n == 0 && generating && set != nil):
		bad("-n %d: want a number of events ≥ 1", o.n)
	case given("n") && !generating:
		bad("-n: the events come from -from or -check-output, not from the generator; leave -n out")
	}
	for _, f := range []struct {
		name string
		v    int64
	}{{"splits", int64(o.splits)}, {"batch", int64(o.batch)}, {"state-memory", o.stateMemory}} {
		if f.v < 0 {
			bad("-%s %d: want a number ≥ 0 (0: the default)", f.name, f.v)
		}
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{{"wait", o.wait}, {"idle", o.idle}, {"max-future-skew", o.maxFutureSkew}, {"stop-idle", o.stopIdle}} {
		if f.v < 0 || (f.v == 0 && given(f.name) && f.name == "stop-idle") {
			bad("-%s %v: want a positive duration", f.name, f.v)
		}
	}
	if o.live < 0 || math.IsNaN(o.live) || math.IsInf(o.live, 0) {
		bad("-live %v: want events per second > 0", o.live)
	}
	writing := o.writeParquet != "" || o.publish != ""
	if writing && o.from != "" {
		bad("-from with -publish or -write-parquet: those write generated events (-n); -from would be ignored")
	}
	if writing && o.to != "" {
		bad("-to with -publish or -write-parquet: those only write events; there are no rows")
	}
	if o.checkOutput != "" && (o.from != "" || writing || o.to != "") {
		bad("-check-output reads rows written by -to; it cannot be combined with -from, -to, -publish or -write-parquet")
	}
	if o.live > 0 {
		if o.job.Mode != "stream" {
			bad("-live needs -mode stream")
		}
		if o.from != "" || writing {
			bad("-live generates events in real time; it cannot be combined with -from, -publish or -write-parquet")
		}
	}
	if (o.deadLetters != "" || o.maxFutureSkew > 0) && o.from == "" {
		bad("-dead-letters and -max-future-skew apply to input read with -from; generated events are always readable")
	}
	if o.bench && (o.from != "" || writing || o.checkOutput != "") {
		bad("-bench compares with W1 generated in memory; it cannot be combined with -from, -publish, -write-parquet or -check-output")
	}
	if given("splits") && !generating {
		bad("-splits applies to generated events; -from reads the splits of its input")
	}
	if (given("idle") || given("stop-idle")) && !isKafka(o.from) {
		bad("-idle and -stop-idle apply to -from kafka://")
	}
	if err := errors.Join(errs...); err != nil {
		return usageError{Err: err}
	}
	return nil
}

func main() {
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if err == nil {
		// Signals: SIGTERM/SIGINT stop at the end of a micro-batch (a final checkpoint with -checkpoint), SIGUSR1
		// takes a savepoint, SIGUSR2 stops with one (jobcli.Flags.Run); exit codes are jobcli's.
		err = run(context.Background(), o, os.Stdout)
	}
	jobcli.Exit("windowsum", err)
}

type result struct {
	events   int64
	rows     int64
	checksum uint64
	elapsed  time.Duration
	counts   string // late_dropped=… dead_letters=… future=…
	lag      string // live runs: on-time pane emit lag quantiles
}

func (r result) rate() float64 { return float64(r.events) / r.elapsed.Seconds() }

func (r result) String() string {
	return fmt.Sprintf("events=%d rows=%d checksum=%s rate=%.0f%s%s", r.events, r.rows, w1.FormatChecksum(r.checksum), r.rate(), r.counts, r.lag)
}

func run(ctx context.Context, o options, out io.Writer) error {
	if err := o.validate(nil); err != nil {
		return err
	}
	if o.job.Mode == "" {
		o.job.Mode = "batch"
	}
	if o.window == "" {
		o.window = "fixed"
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
	if o.memprofile != "" {
		stop := peakHeapProfile(o.memprofile)
		defer stop()
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
		var sum uint64
		var rows int
		switch {
		case o.window == "global":
			sum, rows = w1.PlainLoopTotals(o.n, keysOf(o))
		case keysOf(o) != 1000:
			return errors.New("-bench with -keys compares W1-totals (-window global) only")
		default:
			sum, rows = w1.PlainLoop(o.n, o.window == "sliding")
		}
		plain := result{events: o.n, rows: int64(rows), checksum: sum, elapsed: time.Since(start)}
		fmt.Fprintf(out, "plain-loop %s\n", plain)
		fmt.Fprintf(out, "ratio=%.2f gomaxprocs=%d workers=%d mode=%s window=%s\n", res.rate()/plain.rate(),
			runtime.GOMAXPROCS(0), workersOf(o), o.job.Mode, o.window)
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

func keysOf(o options) uint64 {
	if o.keys == 0 {
		return 1000
	}
	return o.keys
}

func workersOf(o options) int {
	if o.job.Workers > 0 {
		return o.job.Workers
	}
	return runtime.GOMAXPROCS(0)
}

// w1Events generates W1's events [0, n) with io/generate: split j of k generates events j, j+k, … so that all
// splits move through event time together, and W1's disorder bound is the generator's out-of-orderness promise,
// which lets batch runs fire windows as generation moves past them.
func w1Events(s pipeline.Scope, n int64, splits int, keys uint64) pipeline.PCollection[w1.Event] {
	gen := func(i int64) (w1.Event, pipeline.Time) {
		e := w1.Gen(i)
		return e, pipeline.Time(e.Time)
	}
	name := fmt.Sprintf("w1(n=%d)", n)
	if keys != 1000 && keys != 0 { // W1-totals' keys: too many to intern
		digits := w1.KeyDigits(keys)
		gen = func(i int64) (w1.Event, pipeline.Time) {
			e := w1.GenK(i, keys, digits)
			return e, pipeline.Time(e.Time)
		}
		name = fmt.Sprintf("w1(n=%d, keys=%d)", n, keys)
	}
	return generate.Read(s, generate.Config[w1.Event]{
		Count: n, Splits: splits, OutOfOrderness: time.Duration(w1.MaxDelay) * time.Millisecond,
		RecordBytes: w1.EventBytes, Name: name, Func: gen,
	})
}

// w1Live releases W1's keys and values in real time, rate events per second over all splits, event time =
// release time minus W1's delay for the event (so it follows the clock, as in a live stream).
func w1Live(s pipeline.Scope, n int64, rate float64, splits int) pipeline.PCollection[w1.Event] {
	start := time.Now()
	return generate.Read(s, generate.Config[w1.Event]{
		Count: n, Splits: splits, Rate: rate, OutOfOrderness: time.Duration(w1.MaxDelay) * time.Millisecond,
		RecordBytes: w1.EventBytes, Name: fmt.Sprintf("w1-live(n=%d, %.0f/s)", n, rate),
		Func: func(i int64) (w1.Event, pipeline.Time) {
			e := w1.Gen(i)
			release := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
			e.Time = release.UnixMilli() - (w1.BaseTime + i - e.Time) // W1's delay for event i
			return e, pipeline.Time(e.Time)
		},
	})
}

func runKappa(ctx context.Context, o options) (result, error) {
	p := pipeline.New()
	s := p.Root()
	splits := o.splits
	if splits <= 0 {
		splits = 4 * workersOf(o)
	}
	var events pipeline.PCollection[w1.Event]
	var dead *deadLetterFile
	switch {
	case o.from != "":
		var err error
		if events, dead, err = readEvents(s, o); err != nil {
			return result{}, err
		}
		if dead != nil {
			defer dead.close()
		}
	case o.live > 0:
		events = w1Live(s, o.n, o.live, splits)
	default:
		events = w1Events(s, o.n, splits, o.keys)
	}
	rows := WindowSum(s, events, o.window, o.job.Mode == "stream", o.every)
	sum := newChecksum()
	if o.beam != nil && o.beam.Beam() {
		return runOnBeam(ctx, o, p, s, rows, sum) // beam.go
	}
	foreach.WriteShards(s, rows, sum.shard, foreach.Name("Checksum"))
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
	if err := o.job.Run(ctx, r, p); err != nil {
		return result{}, err
	}
	if dead != nil {
		if err := dead.close(); err != nil {
			return result{}, err
		}
	}
	checksum, n := sum.result()
	st := r.Stats()
	res := result{events: st.Records, rows: n, checksum: checksum, elapsed: time.Since(start),
		counts: fmt.Sprintf(" late_dropped=%d dead_letters=%d future=%d", st.LateDropped(), st.TotalDeadLettered(), st.TotalFuture())}
	if isKafka(o.from) && o.job.Mode == "stream" && res.elapsed > o.stopIdle+100*time.Millisecond {
		res.elapsed -= o.stopIdle // the run waited that long after the last record before draining
	}
	if o.live > 0 {
		res.lag = fmt.Sprintf(" lag_p50=%s lag_p99=%s", st.LagQuantile(0.5).Round(time.Millisecond), st.LagQuantile(0.99).Round(time.Millisecond))
	}
	return res, nil
}

// logger is the job's logger (-log-level, -log-format): warnings and errors by default, and with -progress also
// progress and commits.
func logger(o options) *slog.Logger {
	f := o.job
	if f.LogLevel == "" { // options from code
		f.LogLevel = "warn"
		if f.Progress {
			f.LogLevel = "info"
		}
	}
	return f.Logger()
}

// runnerConfig is the job flags' runner configuration (jobcli) with windowsum's own settings.
func runnerConfig(ctx context.Context, o options) (local.Config, error) {
	cfg, err := o.job.Config(ctx)
	if err != nil {
		return cfg, err
	}
	cfg.BatchRecords, cfg.StateMemory, cfg.BatchWait, cfg.Logger, cfg.EpochHook = o.batch, o.stateMemory, o.wait, logger(o), crashHook()
	if o.job.Mode == "stream" && isKafka(o.from) {
		cfg.StopWhenIdle = o.stopIdle
	}
	return cfg, nil
}

// runWrite generates the events and writes them to Parquet (-write-parquet) and/or Kafka (-publish).
func runWrite(ctx context.Context, o options, out io.Writer) error {
	p := pipeline.New()
	s := p.Root()
	splits, workers := o.splits, o.job.Workers
	if splits <= 0 {
		splits = workersOf(o)
	}
	if o.publish != "" {
		// One writer, in event order: records of one partition must stay within W1's 2 s of disorder, which
		// concurrent writers interleaving their batches would break.
		splits, workers = 1, 1
	}
	events := w1Events(s, o.n, splits, o.keys)
	if err := writeEvents(s, events, o); err != nil {
		return err
	}
	cfg, err := runnerConfig(ctx, options{batch: o.batch, job: jobcli.Flags{Workers: workers, Progress: o.job.Progress, LogLevel: o.job.LogLevel,
		LogFormat: o.job.LogFormat, Mode: "batch", S3Endpoint: o.job.S3Endpoint}})
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
	cs := newChecksum()
	foreach.WriteShards(s, rows, cs.shard, foreach.Name("Checksum"))
	cfg, err := runnerConfig(ctx, options{job: jobcli.Flags{Workers: o.job.Workers, LogLevel: o.job.LogLevel, LogFormat: o.job.LogFormat,
		Mode: "batch", S3Endpoint: o.job.S3Endpoint}})
	if err != nil {
		return err
	}
	if err := local.New(cfg).Run(ctx, p); err != nil {
		return err
	}
	sum, n := cs.result()
	fmt.Fprintf(out, "rows=%d checksum=%s\n", n, w1.FormatChecksum(sum))
	return nil
}
