package jobcli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/kappaflow/kappa/io/objstore"
	"github.com/kappaflow/kappa/runners/local"
)

// Flags holds the values of the job flags every kappa binary shares. Register binds them to a flag set; the
// values passed to Register are the binary's defaults.
type Flags struct {
	// Mode is "batch" or "stream" (-mode; default "batch").
	Mode string
	// Checkpoint is the checkpoint location, a folder or an s3:// URL (-checkpoint). Empty: no checkpoints.
	Checkpoint string
	// StartFrom names the savepoint ("NAME" or "savepoint-NAME") or retained checkpoint ("chk-<epoch>") to start
	// from instead of the newest checkpoint (-start-from).
	StartFrom string
	// AllowNonRestoredState lets a restore drop state, positions and tokens of transforms the job no longer has
	// (-allow-non-restored-state).
	AllowNonRestoredState bool
	// Epoch is the time between epochs — sink commits, and checkpoints with Checkpoint — (-epoch; 0: the runner's
	// default).
	Epoch time.Duration
	// Workers is the number of workers (-workers; 0: GOMAXPROCS).
	Workers int
	// Status is the address of the job's status page, host:port (-status): graph, rates, lags, watermarks and
	// what holds them back, state, checkpoints; JSON under /api/v1/.
	Status string
	// Metrics is the address of the Prometheus metrics endpoint, host:port (-metrics).
	Metrics string
	// LogLevel is debug, info, warn or error (-log-level; default "info").
	LogLevel string
	// LogFormat is text or json (-log-format; default "text").
	LogFormat string
	// Progress prints progress lines on Stderr (-progress).
	Progress bool
	// S3Endpoint is an S3-compatible endpoint for s3:// URLs (-s3-endpoint; default $KAPPA_S3_ENDPOINT, else
	// AWS).
	S3Endpoint string
	// Stderr receives logs, progress lines and the signal notices (default os.Stderr). It is not a flag.
	Stderr io.Writer
}

// Register defines the job flags on fs, with the values of defaults as their defaults, and returns the Flags the
// parsed values go to.
func Register(fs *flag.FlagSet, defaults Flags) *Flags {
	f := defaults
	if f.Mode == "" {
		f.Mode = "batch"
	}
	if f.LogLevel == "" {
		f.LogLevel = "info"
	}
	if f.LogFormat == "" {
		f.LogFormat = "text"
	}
	fs.StringVar(&f.Mode, "mode", f.Mode, "batch or stream")
	fs.StringVar(&f.Checkpoint, "checkpoint", f.Checkpoint, "checkpoint to this folder or s3:// URL, and resume from the newest checkpoint there on start")
	fs.StringVar(&f.StartFrom, "start-from", f.StartFrom, "with -checkpoint: start from this savepoint (NAME, printed on SIGUSR1/SIGUSR2) or retained checkpoint (chk-EPOCH)\ninstead of the newest checkpoint")
	fs.BoolVar(&f.AllowNonRestoredState, "allow-non-restored-state", f.AllowNonRestoredState, "with -checkpoint: let the restore drop the state of transforms, sources and sinks this job no longer has")
	fs.DurationVar(&f.Epoch, "epoch", f.Epoch, "time between epochs (sink commits and checkpoints) in stream mode or with -checkpoint (0: the runner's 10s)")
	fs.IntVar(&f.Workers, "workers", f.Workers, "workers (0: GOMAXPROCS)")
	fs.StringVar(&f.Status, "status", f.Status, "serve the job's status page (graph, rates, lags, watermarks, checkpoints) on this address during the run,\ne.g. 127.0.0.1:8080 (port 0: a free port, printed in the log)")
	fs.StringVar(&f.Metrics, "metrics", f.Metrics, "serve Prometheus metrics on this address during the run, e.g. 127.0.0.1:9464")
	fs.StringVar(&f.LogLevel, "log-level", f.LogLevel, "debug, info, warn or error")
	fs.StringVar(&f.LogFormat, "log-format", f.LogFormat, "text or json (log/slog on stderr)")
	fs.BoolVar(&f.Progress, "progress", f.Progress, "print progress lines on stderr")
	fs.StringVar(&f.S3Endpoint, "s3-endpoint", f.S3Endpoint, "S3-compatible endpoint for s3:// URLs, e.g. http://127.0.0.1:9100 (default $KAPPA_S3_ENDPOINT, else AWS)")
	return &f
}

// UsageError is a bad flag or argument: Exit prints it with a pointer to -help and exits with ExitUsage.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }

// Unwrap returns Err.
func (e UsageError) Unwrap() error { return e.Err }

// Given returns the names of the flags set on fs's command line.
func Given(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// Parse parses args with fs and validates f (registered on fs). Stray arguments are refused. The error is
// flag.ErrHelp for -help, else a UsageError naming every bad flag. Binaries with flags of their own that need
// checks parse with fs.Parse and call Validate themselves.
func Parse(fs *flag.FlagSet, args []string, f *Flags) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return UsageError{err}
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q: every option is a flag", fs.Args()))
	}
	if err := f.Validate(Given(fs)); err != nil {
		errs = append(errs, errors.Unwrap(err))
	}
	if len(errs) > 0 {
		return UsageError{errors.Join(errs...)}
	}
	return nil
}

// Validate checks the values: each problem is reported naming its flag, all at once, as a UsageError. given
// holds the flags set on the command line (Given); nil when the values come from code.
func (f *Flags) Validate(given map[string]bool) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if f.Mode != "" && f.Mode != "batch" && f.Mode != "stream" {
		bad("-mode %q: want batch or stream", f.Mode)
	}
	if f.Workers < 0 {
		bad("-workers %d: want a number ≥ 0 (0: GOMAXPROCS)", f.Workers)
	}
	if f.Epoch < 0 || (f.Epoch == 0 && given["epoch"]) {
		bad("-epoch %v: want a positive duration", f.Epoch)
	}
	if f.Checkpoint != "" {
		if _, err := objstore.Parse(f.Checkpoint); err != nil {
			bad("-checkpoint %q: %v", f.Checkpoint, err)
		}
	}
	if f.StartFrom != "" {
		switch name := strings.TrimPrefix(f.StartFrom, "savepoint-"); {
		case f.Checkpoint == "":
			bad("-start-from needs -checkpoint (the savepoint or checkpoint lives there)")
		case name == "" || strings.ContainsAny(name, `/\`):
			bad("-start-from %q: want a savepoint name or chk-EPOCH (kappa checkpoints LOCATION lists them)", f.StartFrom)
		}
	}
	if f.AllowNonRestoredState && f.Checkpoint == "" {
		bad("-allow-non-restored-state needs -checkpoint (it applies to the restore of a checkpoint or savepoint)")
	}
	for _, a := range []struct{ name, v string }{{"status", f.Status}, {"metrics", f.Metrics}} {
		if a.v == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(a.v); err != nil || port == "" {
			bad("-%s %q: want host:port, e.g. 127.0.0.1:8080", a.name, a.v)
		}
	}
	if f.Status != "" && f.Status == f.Metrics && !strings.HasSuffix(f.Status, ":0") {
		bad("-status and -metrics %q: want two addresses", f.Status)
	}
	if _, err := parseLevel(f.LogLevel); err != nil {
		bad("-log-level %q: want debug, info, warn or error", f.LogLevel)
	}
	if f.LogFormat != "" && f.LogFormat != "text" && f.LogFormat != "json" {
		bad("-log-format %q: want text or json", f.LogFormat)
	}
	if f.S3Endpoint != "" {
		if u, err := url.Parse(f.S3Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("-s3-endpoint %q: want a URL like http://127.0.0.1:9100", f.S3Endpoint)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return UsageError{err}
	}
	return nil
}

func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "", "info":
		return slog.LevelInfo, nil
	case "debug":
		return slog.LevelDebug, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("unknown level %q", s)
}

func (f *Flags) stderr() io.Writer {
	if f.Stderr != nil {
		return f.Stderr
	}
	return os.Stderr
}

// Logger returns the job's logger: log/slog on Stderr at -log-level, as text or JSON (-log-format).
func (f *Flags) Logger() *slog.Logger {
	level, err := parseLevel(f.LogLevel)
	if err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if f.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(f.stderr(), opts))
	}
	return slog.New(slog.NewTextHandler(f.stderr(), opts))
}

// S3 returns the S3 settings for s3:// URLs: -s3-endpoint (or $KAPPA_S3_ENDPOINT) points at an S3-compatible
// server with path-style addressing; credentials come from the AWS chain, or dummies for a local endpoint when
// the environment has none. Without an endpoint: AWS's defaults.
func (f *Flags) S3() objstore.Config {
	ep := f.S3Endpoint
	if ep == "" {
		ep = os.Getenv("KAPPA_S3_ENDPOINT")
	}
	if ep == "" {
		return objstore.Config{}
	}
	cfg := objstore.Config{Endpoint: ep, UsePathStyle: true, Region: "us-east-1"}
	if os.Getenv("AWS_ACCESS_KEY_ID") == "" {
		cfg.AccessKeyID, cfg.SecretAccessKey = "kappa", "kappa"
	}
	return cfg
}

// CheckpointStore opens the -checkpoint location (nil when there is none).
func (f *Flags) CheckpointStore(ctx context.Context) (local.CheckpointStore, error) {
	if f.Checkpoint == "" {
		return nil, nil
	}
	st, err := objstore.NewCheckpointStore(ctx, f.Checkpoint, f.S3())
	if err != nil {
		return nil, fmt.Errorf("-checkpoint %s: %w", f.Checkpoint, err)
	}
	return st, nil
}

// Config returns the runner configuration the flags describe: mode, workers, epoch interval, checkpoints and
// where to start from, the status page and metrics addresses, the logger and progress lines. The binary sets
// the rest (batch sizes, state memory …) on the result.
func (f *Flags) Config(ctx context.Context) (local.Config, error) {
	if err := f.Validate(nil); err != nil {
		return local.Config{}, err
	}
	cfg := local.Config{Workers: f.Workers, MetricsAddr: f.Metrics, Logger: f.Logger(), EpochInterval: f.Epoch}
	if f.Mode == "stream" {
		cfg.Mode = local.Stream
	}
	if f.Progress {
		cfg.Progress = f.stderr()
	}
	setStatus(&cfg, f.Status)
	st, err := f.CheckpointStore(ctx)
	if err != nil {
		return cfg, err
	}
	if st != nil {
		cfg.Checkpoints = st
		cfg.StartFrom = f.startFrom()
		cfg.AllowNonRestoredState = f.AllowNonRestoredState
	}
	return cfg, nil
}

// startFrom is -start-from as local.Config.StartFrom takes it: a savepoint by its bare name.
func (f *Flags) startFrom() string {
	if strings.HasPrefix(f.StartFrom, "chk-") {
		return f.StartFrom
	}
	return strings.TrimPrefix(f.StartFrom, "savepoint-")
}
