// Command nexmark runs the Nexmark benchmark queries on kappa over events from Beam's Nexmark generator (package
// nexmark), generated in process or read back from Parquet or Kafka, and prints one line:
//
//	query=q5 mode=batch events=10000000 results=2031 checksum=5b3d0f6a9c1e2d47 rate=2512345 per_core=1256172
//
// The checksum (over the results and their windows, in any order) is the same in batch and stream mode and over
// every path of the same events, except for q6 and q12, whose panes depend on micro-batches and processing time.
//
//	nexmark -query q5 -events 10000000                    # generated in memory, batch mode, one worker per core
//	nexmark -query q5 -events 10000000 -mode stream -batch 5000
//	nexmark -query q3 -events 1000000 -rate-limited       # events released at -rate per second, in real time
//	nexmark -events 1000000 -write-parquet /tmp/nexmark   # archive the events as Parquet (or s3://bucket/nexmark/)
//	nexmark -query q8 -from /tmp/nexmark                  # run a query over them
//	nexmark -events 1000000 -publish kafka://127.0.0.1:9092/nexmark
//	nexmark -query q7 -from kafka://127.0.0.1:9092/nexmark -mode stream -to /tmp/q7  # stops once idle
//	nexmark -query q4 -events 10000000 -bench             # also peak RSS and the ratio to Flink's per-core rate
//
// Generator flags default to Beam's NexmarkConfiguration (events 100,000 excepted); see -help.
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
	"slices"
	"strings"
	"time"

	"github.com/kappaflow/kappa/examples/nexmark/nexmark"
	"github.com/kappaflow/kappa/examples/nexmark/queries"
	"github.com/kappaflow/kappa/io/kafkaio"
	"github.com/kappaflow/kappa/io/objstore"
	"github.com/kappaflow/kappa/io/parquetio"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/runners/local"
)

type options struct {
	query, mode                  string
	events, seed                 int64
	workers, batch, splits       int
	rate, nextRate               float64
	rateShape                    string
	ratePeriod                   time.Duration
	generators                   int
	outOfOrder                   int64
	hotAuctions, hotSellers      int
	hotBidders, inFlight, active int
	personSize, auctionSize      int
	bidSize                      int
	rateLimited                  bool
	windowSize, windowPeriod     time.Duration
	auctionSkip, maxLogEvents    int64
	from, to                     string
	writeParquet, publish        string
	s3Endpoint                   string
	checkpoint                   string
	stopIdle, epoch              time.Duration
	bench, progress              bool
	sink                         string
	cpuprofile                   string
	stateMemory                  int64
}

// usageError is a bad flag: main prints it with the usage and exits with status 2.
type usageError struct {
	flag string
	msg  string
}

func (e *usageError) Error() string { return fmt.Sprintf("-%s: %s", e.flag, e.msg) }

func defineFlags(fs *flag.FlagSet, o *options) {
	def := nexmark.DefaultConfig(0)
	fs.StringVar(&o.query, "query", "q0", "query to run: "+strings.Join(queryNames(), ", "))
	fs.Int64Var(&o.events, "events", 100_000, "number of events to generate (0: unbounded)")
	fs.StringVar(&o.mode, "mode", "batch", "batch or stream")
	fs.IntVar(&o.workers, "workers", 0, "workers (default GOMAXPROCS)")
	fs.IntVar(&o.batch, "batch", 0, "records per split per micro-batch (default: the runner's)")
	fs.IntVar(&o.splits, "splits", 0, "source splits for generated events (default 4 × workers)")
	fs.Int64Var(&o.seed, "seed", 0, "generator seed (0: exactly Beam's events)")
	fs.Float64Var(&o.rate, "rate", def.FirstEventRate, "event rate in events per second: spaces event times (Beam's firstEventRate)")
	fs.Float64Var(&o.nextRate, "next-rate", 0, "second event rate of a varying rate (default -rate; Beam's nextEventRate)")
	fs.StringVar(&o.rateShape, "rate-shape", "sine", "shape of a varying rate: sine or square")
	fs.DurationVar(&o.ratePeriod, "rate-period", def.RatePeriod, "period of a varying rate")
	fs.IntVar(&o.generators, "generators", def.NumEventGenerators, "Beam generators (timelines with their own ids) the events come from (Beam's numEventGenerators)")
	fs.Int64Var(&o.outOfOrder, "out-of-order", def.OutOfOrderGroupSize, "shuffle events in groups of this many (Beam's outOfOrderGroupSize)")
	fs.IntVar(&o.hotAuctions, "hot-auctions", def.HotAuctionRatio, "hot auction ratio (Beam's hotAuctionRatio)")
	fs.IntVar(&o.hotSellers, "hot-sellers", def.HotSellersRatio, "hot sellers ratio (Beam's hotSellersRatio)")
	fs.IntVar(&o.hotBidders, "hot-bidders", def.HotBiddersRatio, "hot bidders ratio (Beam's hotBiddersRatio)")
	fs.IntVar(&o.inFlight, "in-flight-auctions", def.NumInFlightAuctions, "average auctions open per generator (Beam's numInFlightAuctions)")
	fs.IntVar(&o.active, "active-people", def.NumActivePeople, "people active at a time (Beam's numActivePeople)")
	fs.IntVar(&o.personSize, "person-size", def.AvgPersonByteSize, "average person event size in bytes")
	fs.IntVar(&o.auctionSize, "auction-size", def.AvgAuctionByteSize, "average auction event size in bytes")
	fs.IntVar(&o.bidSize, "bid-size", def.AvgBidByteSize, "average bid event size in bytes")
	fs.BoolVar(&o.rateLimited, "rate-limited", false, "release generated events in real time at -rate (unbounded with -events 0); implies -mode stream")
	fs.DurationVar(&o.windowSize, "window-size", 10*time.Second, "window size of q4, q5, q7, q8, session gap of q11, pane interval of q12")
	fs.DurationVar(&o.windowPeriod, "window-period", 5*time.Second, "sliding window period of q4 and q5")
	fs.Int64Var(&o.auctionSkip, "auction-skip", 123, "q2 selects the bids of every N-th auction")
	fs.Int64Var(&o.maxLogEvents, "max-log-events", 100_000, "q11 reports a session early every N bids")
	fs.StringVar(&o.from, "from", "", "read the events from Parquet (folder, glob or s3:// URL) or Kafka (kafka://host:port/topic) instead of generating them")
	fs.StringVar(&o.to, "to", "", "also write the results as Parquet to this folder or s3:// URL, or as JSON to kafka://host:port/topic")
	fs.StringVar(&o.writeParquet, "write-parquet", "", "write the generated events as Parquet to this folder or s3:// URL, then exit")
	fs.StringVar(&o.publish, "publish", "", "publish the generated events to kafka://host:port/topic, then exit")
	fs.StringVar(&o.s3Endpoint, "s3-endpoint", "", "S3-compatible endpoint for s3:// URLs (default $KAPPA_S3_ENDPOINT, else AWS)")
	fs.StringVar(&o.checkpoint, "checkpoint", "", "checkpoint to this folder or s3:// URL (and restore from it on start)")
	fs.DurationVar(&o.stopIdle, "stop-idle", 5*time.Second, "stream mode over Kafka: drain and stop once no record arrived for this long")
	fs.DurationVar(&o.epoch, "epoch", time.Second, "time between epochs (sink commits, checkpoints) in stream mode or with -checkpoint")
	fs.Int64Var(&o.stateMemory, "state-memory", 0, "heap budget for keyed state in bytes; past it state spills to disk (0: no limit)")
	fs.StringVar(&o.sink, "sink", "checksum", "where results go besides -to: checksum (hash every result and its window) or count (count them only, Beam's COUNT_ONLY sink)")
	fs.BoolVar(&o.bench, "bench", false, "also print the rate per core, peak RSS and the ratio to Flink's published per-core rate")
	fs.BoolVar(&o.progress, "progress", false, "print progress lines")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the run to this file")
}

func main() {
	fs := flag.NewFlagSet("nexmark", flag.ExitOnError)
	var o options
	defineFlags(fs, &o)
	_ = fs.Parse(os.Args[1:])
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "nexmark:", err)
		var ue *usageError
		if errors.As(err, &ue) {
			fs.Usage()
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// generatorConfig builds the generator's configuration from the flags; a bad value is a usage error naming its
// flag.
func generatorConfig(o options) (nexmark.Config, error) {
	c := nexmark.Config{Events: o.events, Seed: o.seed, FirstEventRate: o.rate, NextEventRate: o.nextRate,
		RatePeriod: o.ratePeriod, NumEventGenerators: o.generators, OutOfOrderGroupSize: o.outOfOrder,
		HotAuctionRatio: o.hotAuctions, HotSellersRatio: o.hotSellers, HotBiddersRatio: o.hotBidders,
		NumInFlightAuctions: o.inFlight, NumActivePeople: o.active,
		AvgPersonByteSize: o.personSize, AvgAuctionByteSize: o.auctionSize, AvgBidByteSize: o.bidSize}
	switch o.rateShape {
	case "sine", "":
	case "square":
		c.RateShape = nexmark.Square
	default:
		return c, &usageError{"rate-shape", fmt.Sprintf("%q: want sine or square", o.rateShape)}
	}
	// Zero means "default" in nexmark.Config; on the command line it is a mistake for every flag but -events.
	for _, z := range []struct {
		flag string
		zero bool
	}{{"rate", o.rate == 0}, {"generators", o.generators == 0}, {"out-of-order", o.outOfOrder == 0},
		{"hot-auctions", o.hotAuctions == 0}, {"hot-sellers", o.hotSellers == 0}, {"hot-bidders", o.hotBidders == 0},
		{"in-flight-auctions", o.inFlight == 0}, {"active-people", o.active == 0}} {
		if z.zero {
			return c, &usageError{z.flag, "must be positive"}
		}
	}
	if err := c.Validate(); err != nil {
		var ce *nexmark.ConfigError
		if errors.As(err, &ce) {
			return c, &usageError{configFlags[ce.Field], fmt.Sprintf("%v: want %s", ce.Value, ce.Want)}
		}
		return c, err
	}
	return c, nil
}

// configFlags maps nexmark.Config fields to their flags.
var configFlags = map[string]string{
	"Events": "events", "FirstEventRate": "rate", "NextEventRate": "next-rate", "RateShape": "rate-shape",
	"RatePeriod": "rate-period", "NumEventGenerators": "generators", "OutOfOrderGroupSize": "out-of-order",
	"HotAuctionRatio": "hot-auctions", "HotSellersRatio": "hot-sellers", "HotBiddersRatio": "hot-bidders",
	"NumInFlightAuctions": "in-flight-auctions", "NumActivePeople": "active-people",
	"AvgPersonByteSize": "person-size", "AvgAuctionByteSize": "auction-size", "AvgBidByteSize": "bid-size",
	"RateUnit": "rate", "Splits": "splits",
}

func workersOf(o options) int {
	if o.workers > 0 {
		return o.workers
	}
	return runtime.GOMAXPROCS(0)
}

func run(ctx context.Context, o options, out io.Writer) error {
	if o.rateLimited {
		o.mode = "stream"
	}
	if o.sink != "checksum" && o.sink != "count" {
		return &usageError{"sink", fmt.Sprintf("%q: want checksum or count", o.sink)}
	}
	if o.mode != "batch" && o.mode != "stream" {
		return &usageError{"mode", fmt.Sprintf("%q: want batch or stream", o.mode)}
	}
	q, ok := queryByName(o.query)
	if !ok {
		return &usageError{"query", fmt.Sprintf("%q: unknown query; want one of %s", o.query, strings.Join(queryNames(), ", "))}
	}
	for _, p := range []struct {
		flag string
		bad  bool
	}{{"window-size", o.windowSize < time.Millisecond}, {"window-period", o.windowPeriod < time.Millisecond},
		{"auction-skip", o.auctionSkip < 1}, {"max-log-events", o.maxLogEvents < 1}, {"workers", o.workers < 0},
		{"batch", o.batch < 0}, {"splits", o.splits < 0}} {
		if p.bad {
			return &usageError{p.flag, "must be positive"}
		}
	}
	cfg, err := generatorConfig(o)
	if err != nil {
		return err
	}
	if o.events == 0 && !o.rateLimited && o.from == "" {
		return &usageError{"events", "0 (unbounded) needs -rate-limited, or the run would never end"}
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
	if o.writeParquet != "" || o.publish != "" {
		return runWrite(ctx, o, cfg, out)
	}
	return runQuery(ctx, o, cfg, q, out)
}

// logger logs warnings and errors, and with -progress also progress and commits.
func logger(o options) *slog.Logger {
	level := slog.LevelWarn
	if o.progress {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// s3Config returns the S3 settings for s3:// URLs (see windowsum).
func s3Config(o options) objstore.Config {
	ep := o.s3Endpoint
	if ep == "" {
		ep = os.Getenv("KAPPA_S3_ENDPOINT")
	}
	if ep == "" {
		return objstore.Config{}
	}
	c := objstore.Config{Endpoint: ep, UsePathStyle: true, Region: "us-east-1"}
	if os.Getenv("AWS_ACCESS_KEY_ID") == "" {
		c.AccessKeyID, c.SecretAccessKey = "kappa", "kappa"
	}
	return c
}

func isKafka(u string) bool { return strings.HasPrefix(u, "kafka://") }

func runnerConfig(ctx context.Context, o options) (local.Config, error) {
	c := local.Config{Workers: o.workers, BatchRecords: o.batch, StateMemory: o.stateMemory, Logger: logger(o)}
	if o.mode == "stream" {
		c.Mode = local.Stream
		c.EpochInterval = o.epoch
		if isKafka(o.from) {
			c.StopWhenIdle = o.stopIdle
		}
	}
	if o.progress {
		c.Progress = os.Stderr
	}
	if o.checkpoint != "" {
		st, err := objstore.NewCheckpointStore(ctx, o.checkpoint, s3Config(o))
		if err != nil {
			return c, err
		}
		c.Checkpoints, c.EpochInterval = st, o.epoch
	}
	return c, nil
}

// readEvents reads the events: generated, or from -from (Parquet or Kafka).
func readEvents(s pipeline.Scope, o options, cfg nexmark.Config, g *nexmark.Generator) (pipeline.PCollection[nexmark.Event], error) {
	disorder := time.Duration(g.MaxDisorder()) * time.Millisecond
	switch {
	case isKafka(o.from):
		rc, err := kafkaio.ReadConfigFromURL[nexmark.Event](o.from)
		if err != nil {
			return pipeline.PCollection[nexmark.Event]{}, &usageError{"from", err.Error()}
		}
		rc.Logger = logger(o)
		rc.Bounded = o.mode == "batch"
		return nexmark.ReadKafka(s, rc, disorder), nil
	case o.from != "":
		return nexmark.ReadParquet(s, parquetio.ReadConfig[nexmark.Event]{URL: o.from, S3: s3Config(o), Logger: logger(o)}, disorder), nil
	}
	splits := o.splits
	if splits == 0 {
		splits = 4 * workersOf(o)
	}
	src, err := nexmark.NewSource(cfg, nexmark.SourceConfig{Splits: splits, RateLimited: o.rateLimited})
	if err != nil {
		return pipeline.PCollection[nexmark.Event]{}, err
	}
	return nexmark.Read(s, src), nil
}

// flinkPerCore are Flink's published Nexmark rates in events per second per core (3 machines × 8 cores,
// RocksDB, exactly-once): the figures issue 14 compares kappa with.
var flinkPerCore = map[string]float64{"q0": 155e3, "q1": 158e3, "q2": 175e3, "q3": 152e3, "q4": 34e3, "q5": 22e3,
	"q7": 12e3, "q8": 146e3, "q11": 40e3, "q12": 76e3}

func runQuery(ctx context.Context, o options, cfg nexmark.Config, q query, out io.Writer) error {
	g, err := nexmark.NewGenerator(cfg)
	if err != nil {
		return err
	}
	p := queries.DefaultParams(g)
	p.WindowSize, p.WindowPeriod, p.AuctionSkip, p.MaxLogEvents = o.windowSize, o.windowPeriod, o.auctionSkip, o.maxLogEvents
	pl := pipeline.New()
	s := pl.Root()
	events, err := readEvents(s, o, cfg, g)
	if err != nil {
		return err
	}
	sum, err := q.build(s, events, p, o)
	if err != nil {
		return err
	}
	rc, err := runnerConfig(ctx, o)
	if err != nil {
		return err
	}
	r := local.New(rc)
	cpu0 := cpuTime()
	start := time.Now()
	if err := r.Run(ctx, pl); err != nil {
		return err
	}
	el := time.Since(start)
	cpu := cpuTime() - cpu0
	st := r.Stats()
	if isKafka(o.from) && o.mode == "stream" && el > o.stopIdle+100*time.Millisecond {
		el -= o.stopIdle // the run waited that long after the last record before draining
	}
	rate := float64(st.Records) / el.Seconds()
	w := workersOf(o)
	fmt.Fprintf(out, "query=%s mode=%s events=%d results=%d", q.name, o.mode, st.Records, sum.rows())
	if o.sink == "checksum" {
		fmt.Fprintf(out, " checksum=%016x", sum.sum())
	}
	fmt.Fprintf(out, " rate=%.0f per_core=%.0f", rate, rate/float64(w))
	if o.bench {
		fmt.Fprintf(out, " workers=%d gomaxprocs=%d peak_rss=%s", w, runtime.GOMAXPROCS(0), peakRSS())
		if cpu > 0 {
			// Events per second of CPU time: the per-core rate a machine shared with other work does not hide.
			fmt.Fprintf(out, " cpu_s=%.1f per_cpu_s=%.0f", cpu.Seconds(), float64(st.Records)/cpu.Seconds())
		}
		if f, ok := flinkPerCore[q.name]; ok {
			fmt.Fprintf(out, " flink_per_core=%.0f ratio=%.1f", f, rate/float64(w)/f)
		}
	}
	fmt.Fprintln(out)
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

// runWrite generates the events and archives them as Parquet (-write-parquet) and/or publishes them to Kafka
// (-publish).
func runWrite(ctx context.Context, o options, cfg nexmark.Config, out io.Writer) error {
	if cfg.Events == 0 {
		return &usageError{"events", "0 (unbounded) cannot be written out"}
	}
	splits, workers := o.splits, o.workers
	if splits == 0 {
		splits = workersOf(o)
	}
	if o.publish != "" {
		// One writer, in generation order: each partition then holds its events in order (within the generator's
		// out-of-order groups), which the readers' out-of-orderness bound relies on.
		splits, workers = 1, 1
	}
	src, err := nexmark.NewSource(cfg, nexmark.SourceConfig{Splits: splits})
	if err != nil {
		return err
	}
	pl := pipeline.New()
	s := pl.Root()
	events := nexmark.Read(s, src)
	if o.publish != "" {
		wc, err := kafkaio.WriteConfigFromURL[nexmark.Event](o.publish)
		if err != nil {
			return &usageError{"publish", err.Error()}
		}
		wc.Logger = logger(o)
		nexmark.WriteKafka(s, events, wc)
	}
	if o.writeParquet != "" {
		nexmark.WriteParquet(s, events, parquetio.WriteConfig[nexmark.Event]{URL: o.writeParquet, S3: s3Config(o),
			JobID: "nexmark-events", Logger: logger(o)})
	}
	rc, err := runnerConfig(ctx, options{workers: workers, batch: o.batch, progress: o.progress, mode: "batch", s3Endpoint: o.s3Endpoint})
	if err != nil {
		return err
	}
	start := time.Now()
	if err := local.New(rc).Run(ctx, pl); err != nil {
		return err
	}
	var to []string
	for _, u := range []string{o.writeParquet, o.publish} {
		if u != "" {
			to = append(to, u)
		}
	}
	fmt.Fprintf(out, "events=%d wrote=%s rate=%.0f\n", cfg.Events, strings.Join(to, ","), float64(cfg.Events)/time.Since(start).Seconds())
	return nil
}

func queryNames() []string {
	var n []string
	for _, q := range allQueries {
		n = append(n, q.name)
	}
	return n
}

func queryByName(name string) (query, bool) {
	i := slices.IndexFunc(allQueries, func(q query) bool { return q.name == name })
	if i < 0 {
		return query{}, false
	}
	return allQueries[i], true
}
