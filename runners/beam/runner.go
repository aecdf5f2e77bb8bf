package beam

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/gcpopts"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/jobopts"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/dataflow" // registers "dataflow"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/flink"    // registers "flink"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/spark"     // registers "spark"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/universal" // registers "universal"

	"github.com/kappaflow/kappa/pipeline"
)

// Config selects the Beam runner and its options. The zero Config runs on Prism in this process, with workers in
// this process too (loopback).
type Config struct {
	// Runner is "prism" (default), "flink", "spark", "dataflow" or "universal" (any portable job service).
	Runner string
	// Endpoint is the job service address (host:port) of a running job server (Flink's, Spark's, a stand-alone
	// Prism); empty starts Prism in this process.
	Endpoint string
	// EnvironmentType is how the runner starts workers: LOOPBACK (this process; the default for Prism), DOCKER,
	// PROCESS or EXTERNAL (a worker pool already running at EnvironmentConfig).
	EnvironmentType string
	// EnvironmentConfig is the environment's configuration: the container image (DOCKER), the worker pool's
	// address (EXTERNAL) or the boot command (PROCESS).
	EnvironmentConfig string
	// JobName names the job on the runner.
	JobName string
	// Project, Region and TempLocation are Dataflow's (and Google Cloud's) options.
	Project, Region, TempLocation string
	// Builder names the builder (Register) that workers in other processes call to rebuild the pipeline; Params
	// are its parameters, carried as a pipeline option.
	Builder string
	Params  map[string]string
	// StopWhenIdle, when positive, ends every split of an unbounded source once it has read no record for this
	// long, so that a streaming run drains (its windows fire) and stops — runners/local's Config.StopWhenIdle. Zero
	// reads streams until the context is cancelled.
	StopWhenIdle time.Duration
}

// Runner runs kappa pipelines on Apache Beam's portable runners.
type Runner struct {
	cfg Config
}

// New returns a runner with cfg.
func New(cfg Config) *Runner { return &Runner{cfg: cfg} }

// Beam's Go SDK keeps its options in process-wide flags, so runs are serialised.
var runMu sync.Mutex

// Run validates p, translates it and runs it to completion on the configured Beam runner. Everything Beam cannot
// run is reported at once, before anything is submitted, each problem naming the transform, the feature and what
// to do instead.
func (r *Runner) Run(ctx context.Context, p *pipeline.Pipeline) error {
	if p == nil {
		return errors.New("kappa/beam: nil pipeline")
	}
	if err := p.Err(); err != nil {
		return fmt.Errorf("kappa: invalid pipeline: %w", err)
	}
	if err := Validate(p); err != nil {
		return err
	}
	if !beam.Initialized() {
		beam.Init() // a no-op unless this binary was started as a Beam worker (--worker)
	}
	pl, err := newPlan(p)
	if err != nil {
		return err
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	run := hex.EncodeToString(id[:])
	registerPlan(run, pl)
	defer unregisterPlan(run)
	base := stageBase{Run: run, Builder: r.cfg.Builder, Fingerprint: pl.fingerprint, StopWhenIdle: r.cfg.StopWhenIdle}
	if r.cfg.Builder != "" {
		raw, err := json.Marshal(r.cfg.Params)
		if err != nil {
			return fmt.Errorf("kappa/beam: builder parameters: %w", err)
		}
		base.Params = string(raw)
	}
	bp, err := build(pl, base)
	if err != nil {
		return fmt.Errorf("kappa/beam: %w", err)
	}
	runMu.Lock()
	defer runMu.Unlock()
	restore, err := r.setOptions()
	if err != nil {
		return err
	}
	defer restore()
	name := strings.ToLower(r.cfg.Runner)
	if name == "" {
		name = "prism"
	}
	var res beam.PipelineResult
	switch name {
	case "prism":
		res, err = prism.Execute(ctx, bp)
	case "flink", "spark", "dataflow", "universal":
		if r.cfg.Endpoint == "" && name != "dataflow" {
			return fmt.Errorf("kappa/beam: runner %s needs Config.Endpoint (the job server's host:port)", name)
		}
		res, err = beam.Run(ctx, name, bp)
	default:
		return fmt.Errorf("kappa/beam: unknown runner %q (want prism, flink, spark, dataflow or universal)", r.cfg.Runner)
	}
	_ = res
	if err != nil {
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			// A cancelled streaming run (Config.StopWhenIdle zero) ends with the runner's gRPC status: say why.
			return fmt.Errorf("kappa/beam: %s: %w: %w", name, ctx.Err(), err)
		}
		return fmt.Errorf("kappa/beam: %s: %w", name, err)
	}
	return nil
}

// setOptions sets Beam's process-wide options from the config (options left empty keep their value: Beam's own
// command-line flags, when the program parsed them) and returns a function restoring them.
func (r *Runner) setOptions() (func(), error) {
	saved := map[string]string{}
	restore := func() {
		for k, v := range saved {
			_ = flag.Set(k, v)
		}
	}
	set := func(name, v string) error {
		f := flag.Lookup(name)
		if f == nil {
			return fmt.Errorf("kappa/beam: Beam option %s is not registered", name)
		}
		saved[name] = f.Value.String()
		if err := f.Value.Set(v); err != nil {
			return fmt.Errorf("kappa/beam: option %s=%q: %w", name, v, err)
		}
		return nil
	}
	_ = jobopts.Endpoint // the packages registering the options
	_ = gcpopts.Project
	opts := [][2]string{{"endpoint", r.cfg.Endpoint}, {"environment_type", r.cfg.EnvironmentType},
		{"environment_config", r.cfg.EnvironmentConfig}, {"job_name", r.cfg.JobName}, {"project", r.cfg.Project},
		{"region", r.cfg.Region}, {"temp_location", r.cfg.TempLocation}}
	if r.cfg.EnvironmentType == "" && *jobopts.EnvironmentType == "" && (r.cfg.Runner == "" || strings.EqualFold(r.cfg.Runner, "prism")) {
		opts = append(opts, [2]string{"environment_type", "LOOPBACK"})
	}
	if strings.EqualFold(r.cfg.EnvironmentType, "EXTERNAL") && *jobopts.WorkerBinary == "" {
		// The workers of an external pool are already running: stage this binary instead of cross-compiling one.
		if exe, err := os.Executable(); err == nil {
			opts = append(opts, [2]string{"worker_binary", exe})
		}
	}
	for _, o := range opts {
		if o[1] == "" {
			continue
		}
		if err := set(o[0], o[1]); err != nil {
			restore()
			return nil, err
		}
	}
	params := r.cfg.Params
	if params == nil {
		params = map[string]string{}
	}
	raw, err := json.Marshal(params)
	if err != nil {
		restore()
		return nil, err
	}
	beam.PipelineOptions.Set(paramsOption, string(raw))
	return restore, nil
}
