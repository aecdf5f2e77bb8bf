package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kappaflow/kappa/internal/exec"
	"github.com/kappaflow/kappa/pipeline"
)

// Runner runs pipelines in this process, in micro-batches, on Config.Workers cores.
type Runner struct {
	cfg     Config
	reg     *prometheus.Registry
	metrics *metrics
	mu      sync.Mutex
	stats   Stats
	active  *run
	// statusBox holds the status page's last snapshot and URL (status.go).
	statusBox statusBox
}

// Stats summarises a run.
type Stats struct {
	// Records and Bytes count what the sources read.
	Records, Bytes int64
	// Supersteps counts micro-batches.
	Supersteps int64
	// Spilled counts state entries moved to disk (see Config.StateMemory).
	Spilled int64
	// Checkpoints counts checkpoints written; CheckpointTime is their total duration, LastCheckpointBytes the size
	// of the last one (state objects and manifest).
	Checkpoints         int64
	CheckpointTime      time.Duration
	LastCheckpointBytes int64
	// RestoreTime is how long restoring the checkpoint took at the start of the run (0: none restored).
	RestoreTime time.Duration
	// MaxStateEntries is the largest number of keyed state entries (key × window or slice) seen, sampled every
	// 16 micro-batches: it shows whether state stays bounded.
	MaxStateEntries int64
	// Epochs counts sink commits.
	Epochs uint64
	// Late counts, per transform, elements dropped behind the allowed lateness.
	Late map[string]int64
	// Overlapping counts, per transform, session panes that overlap a session already emitted for the same key:
	// data arrived further out of order than the out-of-orderness bound plus the allowed lateness allow (see
	// pipeline.OutOfOrderness), so sessions that belong together were emitted separately. Non-zero means raise
	// the bound or the lateness.
	Overlapping map[string]int64
	// DeadLettered counts, per source, records sent to its dead-letter output (pipeline.ReadWithDeadLetters):
	// undecodable records and records refused by pipeline.MaxFutureSkew.
	DeadLettered map[string]int64
	// Future counts, per source, records whose event time was further ahead of processing time than
	// pipeline.MaxFutureSkew (refused: dead-lettered, or the run failed) or, without it,
	// pipeline.FutureSkewWarning (read as usual; in stream mode they move the watermark ahead).
	Future map[string]int64
	// Panes counts the panes the groupings emitted, by timing: fired early (before the watermark reached the
	// window's end), on time, and late (after the on-time pane, for late data within the allowed lateness).
	Panes PaneCounts
	// Watermark is the last input watermark of the run (the minimum over sources).
	Watermark pipeline.Time
	// Duration is the wall time of the run.
	Duration time.Duration
	// OnTimeLag holds a uniform sample (up to 10000 per worker) of on-time panes' emit lag: processing time at
	// emission minus the window's end in event time. Meaningful when event time follows the clock (live data).
	OnTimeLag []time.Duration
}

// PaneCounts counts panes by timing (pipeline.Pane.Timing).
type PaneCounts struct {
	Early, OnTime, Late int64
}

// LateDropped is the total of Late: elements dropped behind the allowed lateness, over all transforms.
func (s Stats) LateDropped() int64 { return sum(s.Late) }

// TotalDeadLettered is the total of DeadLettered over all sources.
func (s Stats) TotalDeadLettered() int64 { return sum(s.DeadLettered) }

// TotalFuture is the total of Future over all sources.
func (s Stats) TotalFuture() int64 { return sum(s.Future) }

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// String summarises the run on one line: what was read, the panes fired, and what was not processed as usual
// (late data dropped, dead letters, records too far ahead of processing time, overlapping session panes).
func (s Stats) String() string {
	return fmt.Sprintf("records=%d bytes=%d supersteps=%d panes early=%d on-time=%d late=%d; late-dropped=%d "+
		"dead-lettered=%d future=%d overlapping-sessions=%d; watermark=%s duration=%s",
		s.Records, s.Bytes, s.Supersteps, s.Panes.Early, s.Panes.OnTime, s.Panes.Late, s.LateDropped(),
		s.TotalDeadLettered(), s.TotalFuture(), sum(s.Overlapping), s.Watermark, s.Duration.Round(time.Millisecond))
}

// LagQuantile returns the q-quantile (0..1) of the sampled on-time emit lags, 0 when none.
func (s Stats) LagQuantile(q float64) time.Duration {
	if len(s.OnTimeLag) == 0 {
		return 0
	}
	l := slices.Clone(s.OnTimeLag)
	slices.Sort(l)
	return l[min(int(q*float64(len(l))), len(l)-1)]
}

// reservoir keeps a uniform sample of durations (Vitter's algorithm R).
type reservoir struct {
	seen int64
	rng  uint64
	d    []time.Duration
}

func (r *reservoir) add(d time.Duration) {
	r.seen++
	if len(r.d) < 10000 {
		r.d = append(r.d, d)
		return
	}
	r.rng ^= r.rng << 13
	r.rng ^= r.rng >> 7
	r.rng ^= r.rng << 17
	if j := int64(r.rng % uint64(r.seen)); j < int64(len(r.d)) {
		r.d[j] = d
	}
}

// New returns a runner with cfg.
func New(cfg Config) *Runner {
	r := &Runner{cfg: cfg.withDefaults()}
	reg := r.cfg.Registerer
	if reg == nil {
		r.reg = prometheus.NewRegistry()
		reg = r.reg
	}
	r.metrics = newMetrics(reg)
	return r
}

// Gatherer returns the runner's private metrics registry (nil when Config.Registerer was set).
func (r *Runner) Gatherer() prometheus.Gatherer {
	if r.reg == nil {
		return nil
	}
	return r.reg
}

// Stats returns the statistics of the last (or current) run.
func (r *Runner) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats
	s.Late = maps.Clone(r.stats.Late)
	s.Overlapping = maps.Clone(r.stats.Overlapping)
	s.DeadLettered = maps.Clone(r.stats.DeadLettered)
	s.Future = maps.Clone(r.stats.Future)
	return s
}

// Run runs p until every source has ended (bounded inputs), the run has been idle for Config.StopWhenIdle, or ctx
// is cancelled. Construction errors of p are returned before anything runs. On cancellation the current
// micro-batch completes, sinks commit what was written, and Run returns ctx.Err().
func (r *Runner) Run(ctx context.Context, p *pipeline.Pipeline) error {
	if p == nil {
		return errors.New("kappa: nil pipeline")
	}
	if err := p.Err(); err != nil {
		return fmt.Errorf("kappa: invalid pipeline: %w", err)
	}
	if err := exec.CheckProcessLocal(p); err != nil {
		return err
	}
	start := time.Now()
	ru, err := r.plan(ctx, p)
	if err != nil {
		return err
	}
	if err := ru.stat.start(); err != nil { // the status page (status.go)
		_ = ru.close(context.WithoutCancel(ctx))
		return err
	}
	defer ru.stat.stop()
	r.mu.Lock()
	r.active = ru
	r.mu.Unlock()
	loopDone := sync.OnceFunc(func() { close(ru.loopDone) }) // requests (Stop, Savepoint) are no longer served
	defer func() {
		loopDone()
		r.mu.Lock()
		r.active = nil
		r.mu.Unlock()
	}()
	t0 := time.Now()
	if err := ru.restore(ctx); err != nil {
		_ = ru.close(context.WithoutCancel(ctx))
		return &RestoreError{Err: err}
	}
	if ru.restoredFrom != "" {
		r.mu.Lock()
		r.stats.RestoreTime = time.Since(t0)
		r.mu.Unlock()
	}
	if r.cfg.StateMemory > 0 && os.Getenv("GOMEMLIMIT") == "" {
		prev := debug.SetMemoryLimit(r.cfg.StateMemory * 3 / 2)
		defer debug.SetMemoryLimit(prev)
	}
	if r.cfg.MetricsAddr != "" && r.reg != nil {
		stop, err := serveMetrics(r.cfg.MetricsAddr, r.reg)
		if err != nil {
			return err
		}
		defer stop()
	}
	err = ru.loop(ctx)
	loopDone()
	if errors.Is(err, errStopped) {
		err = nil
	}
	if cerr := ru.close(context.WithoutCancel(ctx)); cerr != nil && err == nil {
		err = cerr
	}
	r.mu.Lock()
	r.stats.Duration = time.Since(start)
	r.stats.OnTimeLag = nil
	for _, l := range ru.lags {
		r.stats.OnTimeLag = append(r.stats.OnTimeLag, l.d...)
	}
	st := r.stats
	r.mu.Unlock()
	ru.logSummary(st, err)
	ru.stat.finish(err)
	return err
}

// logSummary logs the run's counts at its end: at Info level, or at Warn level when data was dropped late,
// dead-lettered, stamped too far ahead, or sessions overlapped, so that such a run is never silent.
func (ru *run) logSummary(st Stats, err error) {
	level := slog.LevelInfo
	if st.LateDropped() > 0 || st.TotalDeadLettered() > 0 || st.TotalFuture() > 0 || sum(st.Overlapping) > 0 {
		level = slog.LevelWarn
	}
	attrs := []any{"records", st.Records, "panes_early", st.Panes.Early, "panes_on_time", st.Panes.OnTime,
		"panes_late", st.Panes.Late, "late_dropped", st.LateDropped(), "dead_lettered", st.TotalDeadLettered(),
		"future", st.TotalFuture(), "overlapping_sessions", sum(st.Overlapping), "duration", st.Duration.Round(time.Millisecond)}
	if err != nil {
		attrs = append(attrs, "err", err)
	}
	ru.cfg.Logger.Log(context.Background(), level, "kappa: run summary", attrs...)
}

func serveMetrics(addr string, g prometheus.Gatherer) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("kappa: metrics listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return func() { _ = srv.Close() }, nil
}

type run struct {
	r       *Runner
	cfg     Config
	p       *pipeline.Pipeline
	workers []*exec.Worker
	sources []*source
	keyed   []*keyedNode
	sinks   []*sinkNode
	life    [][]exec.Lifecycle // per worker
	lags    []reservoir        // per worker: on-time pane emit lags
	panes   []PaneCounts       // per worker: panes emitted, by timing
	epoch   uint64
	ended   bool
	drain   bool
	final   bool // every source has ended (or the run drains): the keyed stages fire at +inf
	wm      pipeline.Time
	// progress
	lastProgress time.Time
	lastRecords  int64
	started      time.Time
	lastEpoch    time.Time
	lastData     time.Time
	restoredFrom string
	chains       chains // incremental checkpoint chains (checkpoint.go)
	savepoints   chan savepointReq
	loopDone     chan struct{} // closed when the loop has returned
	spill        *spillStores
	spilled      int64
	stat         *statusTracker // the status page; nil when off (status.go)
	holds        holdPlan       // per-input watermarks and watermark holds (inputs.go)
}

type savepointReq struct {
	name string
	stop bool
	done chan error
}

// errStopped ends the loop after StopWithSavepoint.
var errStopped = errors.New("kappa: stopped with a savepoint")

// Savepoint asks the running job to write a savepoint named name (a checkpoint that is never deleted) at the end
// of the current micro-batch, and waits for it. Start a later run from it with Config.StartFrom. It needs
// Config.Checkpoints.
func (r *Runner) Savepoint(ctx context.Context, name string) error {
	return r.savepoint(ctx, name, false)
}

// StopWithSavepoint writes a savepoint named name at the end of the current micro-batch and stops the job right
// there (Run returns nil), so that a new version of the job can start from it (Config.StartFrom) with nothing
// emitted twice — Flink's stop-with-savepoint.
func (r *Runner) StopWithSavepoint(ctx context.Context, name string) error {
	return r.savepoint(ctx, name, true)
}

// Stop ends the run at the end of the current micro-batch: the epoch is committed — sinks publish what was
// written, and with Config.Checkpoints a checkpoint is written first, so a later run resumes exactly there — and
// Run returns nil. Windows that have not fired are not fired: their state is in the checkpoint. Stop waits until
// the epoch is committed (or ctx is done); it is the graceful counterpart of cancelling Run's context, which
// abandons a micro-batch that is being read.
func (r *Runner) Stop(ctx context.Context) error {
	return r.savepoint(ctx, "", true)
}

func (r *Runner) savepoint(ctx context.Context, name string, stop bool) error {
	if name == "" && stop { // Stop
		return r.request(ctx, savepointReq{stop: true, done: make(chan error, 1)})
	}
	if r.cfg.Checkpoints == nil {
		return errors.New("kappa: savepoints need Config.Checkpoints")
	}
	if name == "" || strings.ContainsAny(name, "/\\") {
		return fmt.Errorf("kappa: bad savepoint name %q", name)
	}
	return r.request(ctx, savepointReq{name: name, stop: stop, done: make(chan error, 1)})
}

// ErrNotRunning is returned by Savepoint, StopWithSavepoint and Stop when no run is in progress.
var ErrNotRunning = errors.New("kappa: no run in progress")

// request hands req to the active run's loop and waits for its answer.
func (r *Runner) request(ctx context.Context, req savepointReq) error {
	r.mu.Lock()
	ru := r.active
	r.mu.Unlock()
	if ru == nil {
		return ErrNotRunning
	}
	select {
	case ru.savepoints <- req:
	case <-ru.loopDone:
		return ErrNotRunning
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

type keyedNode struct {
	t    *pipeline.Transform
	ex   exec.Exchange
	cons []exec.Consumer
	srcs []int
}

type sinkNode struct {
	t       *pipeline.Transform
	op      exec.SinkOp
	runners []exec.SinkRunner
	srcs    []int
	// wm is the watermark of the last epoch prepared: epochs report a watermark that never goes back, although
	// the minimum over the sources can (a source coming back from idleness, see stageWatermark).
	wm pipeline.Time
}

// stateCoderChecker is implemented by keyed operators whose state types are known before the run: it reports a
// key or accumulator type the coder cannot encode.
type stateCoderChecker interface{ CheckStateCoders() error }

// checkpointCoderChecker is implemented by keyed operators whose state is checkpointed but never spilled.
type checkpointCoderChecker interface{ CheckCheckpointCoders() error }

// checkStateCoders refuses, before anything is read, a keyed transform whose state checkpoints or spilling
// (Config.Checkpoints, Config.StateMemory) would need to encode but the coder cannot.
func checkStateCoders(op any, cfg Config) error {
	if cfg.Checkpoints == nil && cfg.StateMemory <= 0 {
		return nil
	}
	var err error
	if sc, ok := op.(stateCoderChecker); ok {
		err = sc.CheckStateCoders()
	} else if cc, ok := op.(checkpointCoderChecker); ok && cfg.Checkpoints != nil {
		err = cc.CheckCheckpointCoders()
	}
	if err != nil {
		what := "Config.Checkpoints"
		if cfg.Checkpoints == nil {
			what = "Config.StateMemory (spilling)"
		}
		return fmt.Errorf("kappa: %w: with %s its state must be encodable by the coder package: change the type "+
			"(no interfaces, functions or channels), implement encoding.BinaryMarshaler and BinaryUnmarshaler on it, "+
			"or run without checkpoints and a state budget", err, what)
	}
	return nil
}

// plan classifies the operators, creates the exchanges and instantiates every operator on every worker.
func (r *Runner) plan(ctx context.Context, p *pipeline.Pipeline) (*run, error) {
	cfg := r.cfg
	ru := &run{r: r, cfg: cfg, p: p, wm: pipeline.MinTime, started: time.Now(), savepoints: make(chan savepointReq),
		spill: &spillStores{base: cfg.SpillDir, budget: cfg.StateMemory}}
	ru.stat = r.newStatus(ru)
	ru.loopDone = make(chan struct{})
	ru.lastProgress, ru.lastEpoch, ru.lastData = ru.started, cfg.Now(), cfg.Now()
	ts := p.Transforms()
	srcIdx := map[*pipeline.Transform]int{}
	keyedIdx := map[*pipeline.Transform]*keyedNode{}
	sinkIdx := map[*pipeline.Transform]*sinkNode{}
	for _, t := range ts {
		switch op := t.Op().(type) {
		case exec.SourceOp:
			srcIdx[t] = len(ru.sources)
			ru.sources = append(ru.sources, newSource(t, op, cfg))
		case exec.SinkOp:
			sn := &sinkNode{t: t, op: op, runners: make([]exec.SinkRunner, cfg.Workers), wm: pipeline.MinTime}
			sinkIdx[t] = sn
			ru.sinks = append(ru.sinks, sn)
		case exec.KeyedOp:
			if err := checkStateCoders(op, cfg); err != nil {
				return nil, err
			}
			ex, err := op.NewExchange(cfg.Workers)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", t.Name(), err)
			}
			kn := &keyedNode{t: t, ex: ex, cons: make([]exec.Consumer, cfg.Workers)}
			keyedIdx[t] = kn
			ru.keyed = append(ru.keyed, kn)
		case exec.ElementOp:
		default:
			return nil, fmt.Errorf("kappa: %s: the local runner cannot execute operator %T", t.Name(), t.Op())
		}
	}
	// Which sources does each transform depend on (for per-stage watermarks)?
	memo := map[*pipeline.Transform][]int{}
	var upstream func(t *pipeline.Transform) []int
	upstream = func(t *pipeline.Transform) []int {
		if s, ok := memo[t]; ok {
			return s
		}
		var out []int
		if i, ok := srcIdx[t]; ok {
			out = []int{i}
		}
		for _, in := range t.Inputs() {
			for _, i := range upstream(in.Producer()) {
				if !slices.Contains(out, i) {
					out = append(out, i)
				}
			}
		}
		memo[t] = out
		return out
	}
	for _, k := range ru.keyed {
		k.srcs = upstream(k.t)
	}
	for _, s := range ru.sinks {
		s.srcs = upstream(s.t)
	}

	ru.life = make([][]exec.Lifecycle, cfg.Workers)
	ru.lags = make([]reservoir, cfg.Workers)
	ru.panes = make([]PaneCounts, cfg.Workers)
	for i := range ru.lags {
		ru.lags[i].rng = uint64(i + 1)
	}
	for wi := range cfg.Workers {
		w := &exec.Worker{Index: wi, Count: cfg.Workers, Ctx: ctx, Now: cfg.Now, Logger: cfg.Logger,
			TrackChanges: cfg.Checkpoints != nil}
		if cfg.StateMemory > 0 {
			w.NewSpill = ru.spill.open
			w.OverBudget = func() bool { return heapBytes() >= cfg.StateMemory }
		}
		lags, panes := &ru.lags[wi], &ru.panes[wi]
		w.OnPane = func(_ string, win pipeline.Window, p pipeline.Pane) {
			switch p.Timing {
			case pipeline.Early:
				panes.Early++
			case pipeline.OnTime:
				panes.OnTime++
			case pipeline.Late:
				panes.Late++
			}
			if win.End == pipeline.MaxTime || win.End == pipeline.MinTime || ru.final {
				return // panes fired by the end of input say nothing about latency
			}
			lag := cfg.Now().Sub(win.End.Std())
			r.metrics.emitLag.WithLabelValues(p.Timing.String()).Observe(lag.Seconds())
			if p.Timing == pipeline.OnTime {
				lags.add(lag)
			}
		}
		w.OnPane = ru.stat.countPanes(wi, w.OnPane)
		ru.workers = append(ru.workers, w)
		inputs := map[*pipeline.Transform][]any{}
		for i := len(ts) - 1; i >= 0; i-- {
			t := ts[i]
			outs := make([]any, len(t.Outputs()))
			for oi, c := range t.Outputs() {
				var ps []any
				var seen []*pipeline.Transform
				for _, ct := range c.Consumers() {
					if slices.Contains(seen, ct) {
						continue
					}
					seen = append(seen, ct)
					for ii, in := range ct.Inputs() {
						if in == c {
							ps = append(ps, inputs[ct][ii])
						}
					}
				}
				ti, ok := c.Type().(exec.TypeInfo)
				if !ok {
					return nil, fmt.Errorf("kappa: %s: collection type info %T", c, c.Type())
				}
				tee, err := ti.NewTee(ps)
				if err != nil {
					return nil, fmt.Errorf("kappa: %s: %w", c, err)
				}
				outs[oi] = tee
			}
			n := len(t.Inputs())
			switch op := t.Op().(type) {
			case exec.SourceOp:
				s := ru.sources[srcIdx[t]]
				s.outs[wi] = outs[0]
				if op.HasDeadLetters() && len(outs) > 1 {
					s.dlqs[wi] = outs[1]
				}
			case exec.SinkOp:
				sr, err := op.Open(ctx, pipeline.Shard{Index: wi, Count: cfg.Workers})
				if err != nil {
					return nil, fmt.Errorf("kappa: %s: %w", t.Name(), err)
				}
				runner, ok := sr.(exec.SinkRunner)
				if !ok {
					return nil, fmt.Errorf("kappa: %s: sink runner %T", t.Name(), sr)
				}
				sinkIdx[t].runners[wi] = runner
				ru.stat.instance(t, wi, sr)
				inputs[t] = []any{sr}
			case exec.KeyedOp:
				kn := keyedIdx[t]
				ins, cons, err := kn.ex.Instantiate(w, outs)
				if err != nil {
					return nil, fmt.Errorf("kappa: %s: %w", t.Name(), err)
				}
				kn.cons[wi] = cons
				ru.stat.instance(t, wi, append(slices.Clone(ins), cons)...)
				if l, ok := cons.(exec.Lifecycle); ok {
					ru.life[wi] = append(ru.life[wi], l)
				}
				if len(ins) == 1 && n > 1 {
					ins = slices.Repeat(ins, n)
				}
				inputs[t] = ins
			case exec.ElementOp:
				inst, err := op.Instantiate(w, outs)
				if err != nil {
					return nil, fmt.Errorf("kappa: %s: %w", t.Name(), err)
				}
				ru.stat.instance(t, wi, inst)
				if l, ok := inst.(exec.Lifecycle); ok {
					ru.life[wi] = append(ru.life[wi], l)
				}
				inputs[t] = slices.Repeat([]any{inst}, max(n, 1))
			}
		}
	}
	ru.planHolds()
	cfg.Logger.Debug("kappa: run planned", "mode", cfg.Mode.String(), "workers", cfg.Workers,
		"transforms", len(ts), "sources", len(ru.sources), "keyed", len(ru.keyed), "sinks", len(ru.sinks))
	return ru, nil
}

// parallel runs fn on every worker concurrently, turning panics into errors naming the transform.
func (ru *run) parallel(fn func(w *exec.Worker) error) error {
	if len(ru.workers) == 1 {
		return ru.guard(ru.workers[0], fn)
	}
	errs := make([]error, len(ru.workers))
	var wg sync.WaitGroup
	for i, w := range ru.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = ru.guard(w, fn)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (ru *run) guard(w *exec.Worker, fn func(w *exec.Worker) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = exec.PanicError(w.Current, v)
		}
	}()
	return fn(w)
}

func (ru *run) loop(ctx context.Context) error {
	if err := ru.parallel(func(w *exec.Worker) error {
		for _, l := range ru.life[w.Index] {
			if err := l.Start(ctx); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	for _, s := range ru.sources {
		if err := s.discover(ctx, ru.cfg.Now()); err != nil {
			return err
		}
	}
	for {
		if ctx.Err() != nil {
			ru.cfg.Logger.Info("kappa: run cancelled; committing what was written", "epoch", ru.epoch)
			if err := ru.commitEpoch(context.WithoutCancel(ctx), false); err != nil {
				return err
			}
			return ctx.Err()
		}
		t0 := time.Now()
		if err := ru.superstep(ctx); err != nil {
			return err
		}
		ru.idleBackoff(ctx, time.Since(t0))
		if ru.ended {
			return ru.commitEpoch(ctx, true)
		}
		if (ru.cfg.Mode == Stream || ru.cfg.Checkpoints != nil) && ru.cfg.Now().Sub(ru.lastEpoch) >= ru.cfg.EpochInterval {
			if err := ru.commitEpoch(ctx, false); err != nil {
				return err
			}
		}
		select {
		case req := <-ru.savepoints:
			if req.name == "" { // Stop: end the epoch (a final checkpoint) and stop
				err := ru.commitEpoch(ctx, false)
				req.done <- err
				if err != nil {
					return err
				}
				ru.cfg.Logger.Info("kappa: stopped at the end of a micro-batch; its epoch is committed", "epoch", ru.epoch-1, "checkpointed", ru.cfg.Checkpoints != nil)
				return errStopped
			}
			err := ru.savepoint(ctx, req.name)
			req.done <- err
			if err == nil && req.stop {
				ru.cfg.Logger.Info("kappa: stopped with savepoint", "name", req.name)
				return errStopped
			}
		default:
		}
	}
}

// superstep reads one micro-batch from every active split, runs it through the graph, advances watermarks and
// fires what they make due.
func (ru *run) superstep(ctx context.Context) error {
	t0 := time.Now()
	now := ru.cfg.Now()
	for _, s := range ru.sources {
		if !s.bounded && now.Sub(s.lastDiscovery) >= ru.cfg.DiscoveryInterval {
			if err := s.discover(ctx, now); err != nil {
				return err
			}
		}
	}
	// 1. Read phase: every worker reads its splits and pushes the records through the fused stages.
	if err := ru.parallel(func(w *exec.Worker) error {
		for si, s := range ru.sources {
			t0 := ru.stat.clock()
			if err := s.readWorker(ctx, w, ru.cfg, now); err != nil {
				return err
			}
			ru.stat.readDone(w.Index, si, t0)
		}
		return ru.flushProducers(w)
	}); err != nil {
		return err
	}
	// 2. Watermarks, at the processing time after the read (sources may take a while, or move a test clock).
	now = ru.cfg.Now()
	readAny := false
	allEnded := true
	for _, s := range ru.sources {
		if s.readThisStep > 0 {
			readAny = true
		}
		s.updateWatermark(ru.cfg, now, ru.drain)
		allEnded = allEnded && s.ended
	}
	if readAny {
		ru.lastData = now
	} else if ru.cfg.StopWhenIdle > 0 && !ru.drain && now.Sub(ru.lastData) >= ru.cfg.StopWhenIdle {
		ru.cfg.Logger.Info("kappa: no input for a while; draining (watermark to +inf) and stopping", "idle", ru.cfg.StopWhenIdle)
		ru.drain = true
		for _, s := range ru.sources {
			s.updateWatermark(ru.cfg, now, true)
		}
		allEnded = true
	}
	// 3. Keyed stages in topological order: consume what was routed to each worker, then fire.
	ru.final = allEnded
	for ki, k := range ru.keyed {
		wm := ru.keyedWatermark(k)
		wms := ru.inputWatermarks(k, wm)
		if err := ru.parallel(func(w *exec.Worker) error {
			defer ru.stat.keyedDone(w.Index, ki, ru.stat.clock())
			c := k.cons[w.Index]
			if err := c.Process(); err != nil {
				return err
			}
			if err := ru.advance(c, wm, wms, now); err != nil {
				return err
			}
			return ru.flushProducers(w)
		}); err != nil {
			return err
		}
	}
	// 4. End of the micro-batch: lifecycle hooks and sink writes.
	if err := ru.parallel(func(w *exec.Worker) error {
		for _, l := range ru.life[w.Index] {
			if err := l.EndOfBatch(ctx); err != nil {
				return err
			}
		}
		for _, s := range ru.sinks {
			if err := s.runners[w.Index].Flush(ctx); err != nil {
				return fmt.Errorf("%s: %w", s.t.Name(), err)
			}
		}
		return nil
	}); err != nil {
		return err
	}
	ru.wm = ru.stageWatermark(nil)
	ru.ended = allEnded
	if err := ru.maybeSpill(); err != nil {
		return err
	}
	ru.account(now, time.Since(t0))
	ru.stat.tick()
	return nil
}

// maybeSpill moves keyed state to disk when the heap is over Config.StateMemory.
func (ru *run) maybeSpill() error {
	if ru.cfg.StateMemory <= 0 || ru.ended {
		return nil
	}
	heap := heapBytes()
	if heap < ru.cfg.StateMemory {
		return nil
	}
	counts := make([]int, len(ru.workers))
	if err := ru.parallel(func(w *exec.Worker) error {
		for ki, k := range ru.keyed {
			if s, ok := k.cons[w.Index].(exec.Spiller); ok {
				n, err := s.Spill()
				if err != nil {
					return fmt.Errorf("%s: %w", k.t.Name(), err)
				}
				counts[w.Index] += n
				ru.stat.spill(w.Index, ki, n)
			}
		}
		return nil
	}); err != nil {
		return err
	}
	total := 0
	for _, n := range counts {
		total += n
	}
	if total > 0 {
		if ru.spilled == 0 {
			ru.cfg.Logger.Info("kappa: state over its memory budget; spilling to disk", "heap", heap, "budget", ru.cfg.StateMemory, "entries", total, "dir", ru.spill.dir)
		}
		ru.spilled += int64(total)
		ru.r.mu.Lock()
		ru.r.stats.Spilled = ru.spilled
		ru.r.mu.Unlock()
		runtime.GC()
	}
	return nil
}

// idleBackoff sleeps out the rest of BatchWait after a micro-batch that read nothing from unbounded sources, so a
// source that returns empty batches at once (instead of waiting up to Limits.MaxWait) does not spin a core.
func (ru *run) idleBackoff(ctx context.Context, took time.Duration) {
	if ru.ended || took >= ru.cfg.BatchWait {
		return
	}
	for _, s := range ru.sources {
		if s.readThisStep > 0 || s.ended {
			return
		}
	}
	unbounded := false
	for _, s := range ru.sources {
		unbounded = unbounded || !s.bounded
	}
	if !unbounded {
		return
	}
	t := time.NewTimer(ru.cfg.BatchWait - took)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func (ru *run) flushProducers(w *exec.Worker) error {
	for _, k := range ru.keyed {
		if err := k.cons[w.Index].Flush(); err != nil {
			return err
		}
	}
	return nil
}

// stageWatermark is the minimum watermark of the given sources (all sources when srcs is nil). Idle sources
// (every split idle past the source's IdleTimeout) are left out while another of them is active, as Flink's
// idleness does across the inputs of an operator: a rarely written table topic joined with a stream does not hold
// the join back. When all of them are idle, it is the minimum over them. Records that an idle source reads later
// may then be behind the watermark downstream (late).
func (ru *run) stageWatermark(srcs []int) pipeline.Time {
	active, idle, anyActive := pipeline.MaxTime, pipeline.MaxTime, false
	add := func(s *source) {
		if s.idle {
			idle = min(idle, s.wm)
			return
		}
		active, anyActive = min(active, s.wm), true
	}
	if srcs == nil {
		for _, s := range ru.sources {
			add(s)
		}
	} else {
		for _, i := range srcs {
			add(ru.sources[i])
		}
	}
	if anyActive {
		return active
	}
	return idle
}

// commitEpoch ends an epoch: sinks stage what they wrote and, once that is durable, publish it; then sources
// acknowledge the positions read.
func (ru *run) commitEpoch(ctx context.Context, final bool) error {
	tokens, err := ru.prepareSinks(ctx, final)
	if err != nil {
		return err
	}
	ru.hook("prepared")
	if ru.cfg.Checkpoints != nil {
		t0 := time.Now()
		size, err := ru.writeCheckpoint(ctx, checkpointName(ru.epoch), tokens, false)
		ru.stat.checkpoint(ru.epoch, checkpointName(ru.epoch), "checkpoint", t0, size, err)
		if err != nil {
			return err
		}
		ru.r.mu.Lock()
		ru.r.stats.Checkpoints++
		ru.r.stats.CheckpointTime += time.Since(t0)
		ru.r.stats.LastCheckpointBytes = size
		ru.r.mu.Unlock()
		ru.hook("checkpointed")
	}
	for w := range ru.workers { // in order, so that a crash can fall between two shards' commits
		for i, s := range ru.sinks {
			if err := s.runners[w].Commit(ctx, tokens[w][i]); err != nil {
				return fmt.Errorf("%s: %w", s.t.Name(), err)
			}
			if w == 0 && i == 0 {
				ru.hook("committing")
			}
		}
	}
	ru.hook("committed")
	for _, s := range ru.sources {
		if err := s.ack(ctx); err != nil {
			return err
		}
	}
	if ru.cfg.Checkpoints != nil {
		if err := ru.collectCheckpoints(ctx); err != nil {
			ru.cfg.Logger.Warn("kappa: could not delete old checkpoints", "err", err)
		}
	}
	ru.epoch++
	ru.lastEpoch = ru.cfg.Now()
	ru.r.metrics.epochs.Inc()
	ru.r.mu.Lock()
	ru.r.stats.Epochs = ru.epoch
	ru.r.mu.Unlock()
	return nil
}

func (ru *run) hook(step string) {
	if ru.cfg.EpochHook != nil {
		ru.cfg.EpochHook(ru.epoch, step)
	}
}

// prepareSinks has every shard of every sink stage what it wrote in this epoch and returns the tokens, by worker
// then sink.
func (ru *run) prepareSinks(ctx context.Context, final bool) ([][][]byte, error) {
	tokens := make([][][]byte, len(ru.workers))
	for _, s := range ru.sinks {
		s.wm = max(s.wm, ru.sinkWatermark(s))
	}
	err := ru.parallel(func(w *exec.Worker) error {
		tokens[w.Index] = make([][]byte, len(ru.sinks))
		for i, s := range ru.sinks {
			e := pipeline.Epoch{ID: ru.epoch, Watermark: s.wm, Final: final}
			tok, err := s.runners[w.Index].Prepare(ctx, e)
			if err != nil {
				return fmt.Errorf("%s: %w", s.t.Name(), err)
			}
			tokens[w.Index][i] = tok
		}
		return nil
	})
	return tokens, err
}

// savepoint ends an epoch whose checkpoint is also written as the savepoint name.
func (ru *run) savepoint(ctx context.Context, name string) error {
	if err := ru.commitEpoch(ctx, false); err != nil {
		return err
	}
	// The epoch just committed left nothing staged; an empty prepare round gives the savepoint its own tokens.
	tokens, err := ru.prepareSinks(ctx, false)
	if err != nil {
		return err
	}
	t0 := time.Now()
	size, err := ru.writeCheckpoint(ctx, savepointPrefix+name+"/", tokens, true)
	ru.stat.checkpoint(ru.epoch, savepointPrefix+name+"/", "savepoint", t0, size, err)
	if err != nil {
		return err
	}
	ru.cfg.Logger.Info("kappa: savepoint written", "name", name, "epoch", ru.epoch)
	return ru.commitEpoch(ctx, false)
}

func (ru *run) close(ctx context.Context) error {
	var errs []error
	if err := ru.parallel(func(w *exec.Worker) error {
		var werrs []error
		for _, l := range ru.life[w.Index] {
			if err := l.Finish(ctx); err != nil {
				werrs = append(werrs, err)
			}
		}
		return errors.Join(werrs...)
	}); err != nil {
		errs = append(errs, err)
	}
	for _, s := range ru.sinks {
		for _, r := range s.runners {
			if r != nil {
				if err := r.Close(ctx); err != nil {
					errs = append(errs, fmt.Errorf("%s: close: %w", s.t.Name(), err))
				}
			}
		}
	}
	for _, s := range ru.sources {
		if err := s.close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := ru.spill.close(); err != nil {
		errs = append(errs, fmt.Errorf("kappa: spill store: %w", err))
	}
	return errors.Join(errs...)
}
