package local

import (
	"context"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kappaflow/kappa/internal/exec"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/runners/local/status"
)

// The status page (Config.StatusAddr): this file builds status.Snapshot values from the run's state and serves
// them. Snapshots are built on the run's goroutine between micro-batches, when no worker runs, at most every
// statusInterval; the HTTP handlers only read the last one published (an atomic pointer), so serving the page
// never touches the run.

const (
	statusInterval   = 250 * time.Millisecond // between snapshots: the page is at most this plus its poll behind
	statusRateWindow = 5 * time.Second        // rates are averages over this window
	statusHistory    = 30                     // checkpoints kept in the history
)

// ElementCounter is implemented by operator instances that count the elements they receive and emit, for the
// status page's per-transform counts and rates: element-wise instances (what ElementOp.Instantiate returns), the
// producer-side inputs and the consumers of keyed operators (KeyedOp), and sink runners. in or out is negative
// when the instance does not count that side (a keyed producer counts what it receives, its consumer what it
// emits). The runner reads the counts between micro-batches, on its own goroutine, after the workers have
// finished (so plain int64 fields incremented by the worker suffice). Counts are per worker; the runner sums
// them. A transform with a single output reports out as that output's count.
type ElementCounter interface {
	ElementCounts() (in, out int64)
}

// stateByter is optionally implemented by keyed consumers that estimate the memory their state holds.
type stateByter interface {
	StateBytes() int64
}

// backlogger is implemented by pipeline.Read's split runners: the connector's backlog, when it knows it.
type backlogger interface {
	Backlog(now time.Time) (pipeline.Backlog, bool)
}

// statusBox holds what a Runner publishes of its status page: the last snapshot and the page's URL.
type statusBox struct {
	snap atomic.Pointer[status.Snapshot]
	url  atomic.Pointer[string]
}

// Status returns the last snapshot of the status page of the current or last run (see Config.StatusAddr): the
// data the page and its JSON API show. It is nil when the run serves no status page.
func (r *Runner) Status() *status.Snapshot { return r.statusBox.snap.Load() }

// StatusURL returns the address of the status page while a run serves it (e.g. "http://127.0.0.1:8080/"), ""
// otherwise. With a StatusAddr of port 0 it tells which port was picked.
func (r *Runner) StatusURL() string {
	if u := r.statusBox.url.Load(); u != nil {
		return *u
	}
	return ""
}

type statusStage struct {
	name       string
	kind       string
	transforms []int // indexes in statusTracker.ts
	srcs       []int // sources upstream
}

type statusSample struct {
	t                  time.Time
	jobRecs, jobBytes  int64
	srcRecs, srcBytes  []int64
	splitRecs          map[*split]int64
	tIn, tOut          []int64 // -1 unknown
	edge               []int64 // -1 unknown
	busy               []int64 // per stage, ns summed over workers
	keyedOut, readDone bool
}

type heldState struct {
	sp    *split // the split holding the stage's watermark back
	since time.Time
}

type statusCounter struct {
	c      ElementCounter
	worker int
}

// statusTracker builds the status page's snapshots of one run. Everything but the per-worker counters is used on
// the run's goroutine only; per-worker counters are written by their worker during a phase and read after it.
type statusTracker struct {
	ru      *run
	box     *statusBox
	srv     *status.Server
	name    string
	started time.Time
	state   string
	errText string
	seq     uint64
	last    time.Time

	ts      []*pipeline.Transform
	tIndex  map[*pipeline.Transform]int
	roles   []string
	kinds   []string
	names   []string // transform names, redacted
	redMemo map[string]string
	stageOf []int
	stages  []statusStage
	edges   []status.Edge
	edgeIn  [][2]int // per edge: transform index and input index
	srcOf   []int    // per transform: source index, -1
	keyOf   []int    // per transform: keyed index, -1
	sinkOf  []int    // per transform: sink index, -1

	counters  [][]statusCounter // per transform: instances that count
	panes     []map[string]*int64
	busy      [][]int64 // [worker][stage] ns
	readRecs  [][]int64 // [worker][source] records read by the worker, at its last read
	spilled   [][]int64 // [worker][keyed]
	history   []statusSample
	held      []heldState
	chk       []status.Checkpoint
	chkOK     int64
	chkFailed int64
}

// newStatus returns the tracker of ru's status page, or nil when cfg.StatusAddr is empty. Every method of a nil
// tracker does nothing, so the run's hooks cost a nil check when the page is off.
func (r *Runner) newStatus(ru *run) *statusTracker {
	if ru.cfg.StatusAddr == "" {
		return nil
	}
	w := ru.cfg.Workers
	name := ru.cfg.JobName
	if name == "" {
		name = strings.TrimSuffix(filepath.Base(os.Args[0]), ".test")
	}
	st := &statusTracker{ru: ru, box: &r.statusBox, name: name, started: time.Now(),
		state: status.StateStarting, tIndex: map[*pipeline.Transform]int{}, panes: make([]map[string]*int64, w),
		busy: make([][]int64, w), readRecs: make([][]int64, w), spilled: make([][]int64, w)}
	for i := range w {
		st.panes[i] = map[string]*int64{}
	}
	st.ts = ru.p.Transforms()
	st.counters = make([][]statusCounter, len(st.ts))
	for i, t := range st.ts {
		st.tIndex[t] = i
	}
	return st
}

// instance registers operator instances of t on worker w that may count elements (see ElementCounter).
func (st *statusTracker) instance(t *pipeline.Transform, w int, objs ...any) {
	if st == nil {
		return
	}
	for _, o := range objs {
		if c, ok := o.(ElementCounter); ok {
			i := st.tIndex[t]
			st.counters[i] = append(st.counters[i], statusCounter{c: c, worker: w})
		}
	}
}

// countPanes wraps a worker's OnPane callback to count the panes each transform emits.
func (st *statusTracker) countPanes(w int, next func(string, pipeline.Window, pipeline.Pane)) func(string, pipeline.Window, pipeline.Pane) {
	if st == nil {
		return next
	}
	m := st.panes[w]
	var lastName string
	var last *int64
	return func(name string, win pipeline.Window, p pipeline.Pane) {
		if last == nil || name != lastName { // a stage fires its panes in a row: one map lookup per run of them
			c, ok := m[name]
			if !ok {
				c = new(int64)
				m[name] = c
			}
			lastName, last = name, c
		}
		*last++
		if next != nil {
			next(name, win, p)
		}
	}
}

// clock returns the time for a busy-time measurement (the zero time when the page is off).
func (st *statusTracker) clock() time.Time {
	if st == nil {
		return time.Time{}
	}
	return time.Now()
}

// readDone adds the time worker w spent reading source si since t0 to the source's stage, when the reads returned
// records (reads that returned nothing were waiting for input).
func (st *statusTracker) readDone(w, si int, t0 time.Time) {
	if st == nil || st.stageOf == nil {
		return
	}
	s := st.ru.sources[si]
	var recs int64
	for _, sp := range s.splits {
		if sp.worker == w {
			recs += sp.records
		}
	}
	if recs != st.readRecs[w][si] {
		st.readRecs[w][si] = recs
		st.busy[w][st.stageOf[st.tIndex[s.t]]] += int64(time.Since(t0))
	}
}

// keyedDone adds the time worker w spent in keyed stage ki since t0.
func (st *statusTracker) keyedDone(w, ki int, t0 time.Time) {
	if st == nil || st.stageOf == nil {
		return
	}
	st.busy[w][st.stageOf[st.tIndex[st.ru.keyed[ki].t]]] += int64(time.Since(t0))
}

// spill counts entries keyed transform ki moved to disk on worker w.
func (st *statusTracker) spill(w, ki, n int) {
	if st == nil {
		return
	}
	st.spilled[w][ki] += int64(n)
}

// checkpoint records a checkpoint or savepoint (kind) written from t0, or its failure.
func (st *statusTracker) checkpoint(epoch uint64, name, kind string, t0 time.Time, size int64, err error) {
	if st == nil {
		return
	}
	c := status.Checkpoint{Epoch: epoch, Name: status.Redact(name), Kind: kind, StartedAt: t0.UTC(),
		DurationMillis: time.Since(t0).Milliseconds(), Bytes: size}
	if err != nil {
		c.Error = status.Redact(err.Error())
		st.chkFailed++
	} else {
		st.chkOK++
	}
	st.chk = append([]status.Checkpoint{c}, st.chk[:min(len(st.chk), statusHistory-1)]...)
	st.publish()
}

// start plans the graph's stages, publishes a first snapshot and starts serving the page. An address in use is
// an error that says so.
func (st *statusTracker) start() error {
	if st == nil {
		return nil
	}
	st.plan()
	if st.ru.cfg.Checkpoints != nil {
		st.state = status.StateRestoring
	}
	st.publish()
	opts := status.Options{}
	if g := st.ru.r.Gatherer(); g != nil {
		opts.Metrics = promhttp.HandlerFor(g, promhttp.HandlerOpts{})
	}
	srv, err := status.Listen(st.ru.cfg.StatusAddr, status.ProviderFunc(st.box.snap.Load), opts)
	if err != nil {
		return err
	}
	st.srv = srv
	u := srv.URL()
	st.box.url.Store(&u)
	st.ru.cfg.Logger.Info("kappa: status page", "url", u)
	if !srv.Loopback() {
		st.ru.cfg.Logger.Warn("kappa: the status page listens beyond the loopback interface; it is read-only and redacts credentials in URLs, but anyone who can reach it sees the job's graph and progress", "addr", srv.Addr())
	}
	return nil
}

// stop stops serving the page; the last snapshot stays available from Runner.Status.
func (st *statusTracker) stop() {
	if st == nil || st.srv == nil {
		return
	}
	_ = st.srv.Close()
	st.srv = nil
	st.box.url.Store(nil)
}

// tick publishes a snapshot after a micro-batch, at most every statusInterval.
func (st *statusTracker) tick() {
	if st == nil {
		return
	}
	st.state = status.StateRunning
	if st.ru.drain {
		st.state = status.StateDraining
	}
	if time.Since(st.last) >= statusInterval {
		st.publish()
	}
}

// finish publishes the final snapshot of the run, which ended with err.
func (st *statusTracker) finish(err error) {
	if st == nil {
		return
	}
	switch {
	case err == nil && !st.ru.ended:
		st.state = status.StateStopped
	case err == nil:
		st.state = status.StateFinished
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		st.state = status.StateCancelled
	default:
		st.state, st.errText = status.StateFailed, status.Redact(err.Error())
	}
	st.publish()
}

// plan assigns the transforms to stages: a source starts a stage, a keyed transform starts a stage after its
// shuffle, and element-wise transforms and sinks run in the stage of their first input.
func (st *statusTracker) plan() {
	ru := st.ru
	n := len(st.ts)
	st.roles, st.kinds, st.names, st.stageOf = make([]string, n), make([]string, n), make([]string, n), make([]int, n)
	st.srcOf, st.keyOf, st.sinkOf = slices.Repeat([]int{-1}, n), slices.Repeat([]int{-1}, n), slices.Repeat([]int{-1}, n)
	for i, s := range ru.sources {
		st.srcOf[st.tIndex[s.t]] = i
	}
	for i, k := range ru.keyed {
		st.keyOf[st.tIndex[k.t]] = i
	}
	for i, s := range ru.sinks {
		st.sinkOf[st.tIndex[s.t]] = i
	}
	srcsOf := make([][]int, n)
	for i, t := range st.ts {
		st.kinds[i] = st.red(opName(t.Op()))
		st.names[i] = st.red(t.Name())
		var srcs []int
		for _, in := range t.Inputs() {
			for _, s := range srcsOf[st.tIndex[in.Producer()]] {
				if !slices.Contains(srcs, s) {
					srcs = append(srcs, s)
				}
			}
		}
		switch {
		case st.srcOf[i] >= 0:
			st.roles[i] = "source"
			srcs = []int{st.srcOf[i]}
			st.stageOf[i] = st.newStage(i, "source", srcs)
		case st.keyOf[i] >= 0:
			st.roles[i] = "keyed"
			st.stageOf[i] = st.newStage(i, "keyed", srcs)
			for ii, in := range t.Inputs() {
				st.addEdge(st.stageOf[st.tIndex[in.Producer()]], st.stageOf[i], "hash", i, ii, in)
			}
		default:
			st.roles[i] = "element"
			if st.sinkOf[i] >= 0 {
				st.roles[i] = "sink"
			}
			if len(t.Inputs()) == 0 {
				st.stageOf[i] = st.newStage(i, "source", srcs)
				break
			}
			s := st.stageOf[st.tIndex[t.Inputs()[0].Producer()]]
			st.stageOf[i] = s
			st.stages[s].transforms = append(st.stages[s].transforms, i)
			for ii, in := range t.Inputs()[1:] {
				if from := st.stageOf[st.tIndex[in.Producer()]]; from != s {
					st.addEdge(from, s, "forward", i, ii+1, in)
				}
			}
			for _, x := range srcs {
				if !slices.Contains(st.stages[s].srcs, x) {
					st.stages[s].srcs = append(st.stages[s].srcs, x)
				}
			}
		}
		srcsOf[i] = srcs
	}
	for w := range ru.workers {
		st.busy[w] = make([]int64, len(st.stages))
		st.readRecs[w] = make([]int64, len(ru.sources))
		st.spilled[w] = make([]int64, len(ru.keyed))
	}
	st.held = make([]heldState, len(st.stages))
}

// red redacts credentials from s (status.Redact), remembering the names and IDs it has seen.
func (st *statusTracker) red(s string) string {
	if v, ok := st.redMemo[s]; ok {
		return v
	}
	if st.redMemo == nil {
		st.redMemo = map[string]string{}
	}
	v := status.Redact(s)
	st.redMemo[s] = v
	return v
}

func (st *statusTracker) newStage(t int, kind string, srcs []int) int {
	st.stages = append(st.stages, statusStage{name: st.names[t], kind: kind, transforms: []int{t}, srcs: slices.Clone(srcs)})
	return len(st.stages) - 1
}

func (st *statusTracker) addEdge(from, to int, ship string, t, input int, c *pipeline.Collection) {
	st.edges = append(st.edges, status.Edge{From: from, To: to, Ship: ship, Transform: st.names[t], Type: c.TypeName()})
	st.edgeIn = append(st.edgeIn, [2]int{t, input})
}

// publish builds a snapshot and makes it the one the page shows.
func (st *statusTracker) publish() {
	st.last = time.Now()
	st.seq++
	st.box.snap.Store(st.build(st.last))
}

// build assembles the snapshot from the run's state. It runs between micro-batches on the run's goroutine.
func (st *statusTracker) build(wall time.Time) *status.Snapshot {
	ru := st.ru
	cfg := ru.cfg
	now := cfg.Now()
	stats := ru.r.Stats()
	stats.OnTimeLag = nil
	snap := &status.Snapshot{Seq: st.seq, TakenAt: wall.UTC()}

	cur := st.sample(wall)
	base := st.baseline(cur)
	dt := cur.t.Sub(base.t).Seconds()
	rate := func(a, b int64) float64 {
		if dt <= 0 || a < b {
			return 0
		}
		return float64(a-b) / dt
	}
	rateOf := func(a, b int64) *float64 {
		if a < 0 || b < 0 {
			return nil
		}
		r := rate(a, b)
		return &r
	}

	// Job.
	j := status.Job{Name: st.name, Mode: cfg.Mode.String(), State: st.state, Error: st.errText,
		StartedAt: st.started.UTC(), UptimeMillis: wall.Sub(st.started).Milliseconds(), Workers: cfg.Workers,
		Supersteps: stats.Supersteps, Epoch: ru.epoch, Records: cur.jobRecs, Bytes: cur.jobBytes,
		RecordsPerSecond: rate(cur.jobRecs, base.jobRecs), BytesPerSecond: rate(cur.jobBytes, base.jobBytes),
		RateWindowMillis: statusRateWindow.Milliseconds(), Watermark: wmOf(ru.stageWatermark(nil), now),
		LateDropped: stats.LateDropped(), DeadLettered: stats.TotalDeadLettered(), Future: stats.TotalFuture(),
		Panes:   status.Panes{Early: stats.Panes.Early, OnTime: stats.Panes.OnTime, Late: stats.Panes.Late},
		Spilled: ru.spilled, RestoredFrom: st.red(ru.restoredFrom)}
	if len(ru.sources) == 0 {
		j.Watermark = wmOf(pipeline.MinTime, now)
	}

	// Transforms.
	snap.Transforms = make([]status.Transform, len(st.ts))
	for i, t := range st.ts {
		tr := status.Transform{Name: st.names[i], Kind: st.kinds[i], Role: st.roles[i], Stage: st.stageOf[i]}
		if cur.tIn[i] >= 0 {
			tr.In, tr.InPerSecond = ptr(cur.tIn[i]), rateOf(cur.tIn[i], base.tIn[i])
		}
		if cur.tOut[i] >= 0 {
			tr.Out, tr.OutPerSecond = ptr(cur.tOut[i]), rateOf(cur.tOut[i], base.tOut[i])
		}
		tr.LateDropped = stats.Late[t.Name()]
		tr.OverlappingSessions = stats.Overlapping[t.Name()]
		if si := st.srcOf[i]; si >= 0 {
			tr.DeadLettered = stats.DeadLettered[ru.sources[si].name]
		}
		snap.Transforms[i] = tr
	}

	// Sources and splits, with the split watermarks the held-back analysis needs.
	type cand struct {
		src   int
		sp    *split
		wm    pipeline.Time
		index int // in snap.Sources[src].Splits
	}
	active := make([][]cand, len(ru.sources))
	var boundedAll = len(ru.sources) > 0
	var prog status.Progress
	var progRead, progTotal float64
	for si, s := range ru.sources {
		src := status.Source{Name: st.red(s.name), Transform: st.names[st.tIndex[s.t]], Stage: st.stageOf[st.tIndex[s.t]],
			Bounded: s.bounded, Records: cur.srcRecs[si], Bytes: cur.srcBytes[si],
			RecordsPerSecond: rate(cur.srcRecs[si], base.srcRecs[si]), BytesPerSecond: rate(cur.srcBytes[si], base.srcBytes[si]),
			Watermark: wmOf(s.wm, now), DeadLettered: stats.DeadLettered[s.name], Future: stats.Future[s.name],
			IdleTimeoutMillis: s.op.IdleTimeout().Milliseconds(), Splits: make([]status.Split, 0, len(s.splits))}
		idle := s.op.IdleTimeout()
		var left status.Remaining
		files := map[string]bool{}
		for _, sp := range s.splits {
			wm := sp.hint
			if cfg.Mode == Stream {
				wm = max(sp.est.Watermark(now), sp.hint)
			}
			state := status.SplitReading
			switch {
			case sp.done || s.ended:
				state, wm = status.SplitDone, pipeline.MaxTime
			case !s.ready(sp):
				state = status.SplitWaiting
			case s.bounded && sp.sr == nil:
				state = status.SplitQueued
			case cfg.Mode == Stream && idle > 0 && now.Sub(sp.lastData) >= idle:
				state = status.SplitIdle
			}
			x := status.Split{ID: st.red(sp.s.ID), Worker: sp.worker, State: state, Records: sp.records,
				Bytes: sp.bytes, RecordsPerSecond: rate(sp.records, base.splitRecs[sp]), Watermark: wmOf(wm, now),
				MaxEventTime: wmOf(pipeline.MinTime, now), Position: positionText(sp.pos)}
			if sp.seen {
				x.MaxEventTime = wmOf(sp.maxSeen, now)
			}
			if sp.records > 0 {
				t := sp.lastData.UTC()
				x.LastRecordAt = &t
			}
			if b, ok := sp.sr.(backlogger); ok {
				if bl, ok := b.Backlog(now); ok {
					x.Lag = lagOf(bl)
					if bl.Position != "" {
						x.Position = status.Redact(bl.Position)
					}
				}
			}
			if state == status.SplitDone {
				x.Lag = &status.Lag{Records: ptr(int64(0)), BehindMillis: ptr(int64(0))}
			}
			if sp.s.Size > 0 {
				l := max(sp.s.Size-sp.bytes, 0)
				if state == status.SplitDone {
					l = 0
				}
				x.BytesLeft = &l
			}
			if state != status.SplitDone {
				left.Splits++
				id, _, _ := strings.Cut(sp.s.ID, "#")
				files[id] = true
			}
			// Candidates for holding the watermark back: what the source's watermark is the minimum over.
			switch {
			case state == status.SplitDone, state == status.SplitWaiting && cfg.Mode == Stream, state == status.SplitIdle:
			default:
				active[si] = append(active[si], cand{src: si, sp: sp, wm: wm, index: len(src.Splits)})
			}
			src.Splits = append(src.Splits, x)
		}
		if s.bounded {
			read, total := s.progress()
			left.Files = len(files)
			left.Bytes = max(total-read, 0)
			done := len(s.splits) - left.Splits
			switch {
			case total > 0:
				left.Percent = 100 * float64(read) / float64(total)
				progRead, progTotal = progRead+float64(read), progTotal+float64(total)
			case len(s.splits) > 0:
				left.Percent = 100 * float64(done) / float64(len(s.splits))
			}
			if s.ended {
				left.Percent = 100
			}
			left.EtaMillis = eta(wall.Sub(st.started), left.Percent)
			src.Remaining = &left
			prog.SplitsDone += done
			prog.SplitsTotal += len(s.splits)
			prog.BytesRead += read
			prog.BytesTotal += total
		} else {
			boundedAll = false
		}
		snap.Sources = append(snap.Sources, src)
	}
	if boundedAll {
		switch {
		case prog.BytesTotal > 0 && progTotal > 0:
			prog.Percent = 100 * progRead / progTotal
		case prog.SplitsTotal > 0:
			prog.Percent = 100 * float64(prog.SplitsDone) / float64(prog.SplitsTotal)
		}
		if ru.ended {
			prog.Percent = 100
		}
		prog.EtaMillis = eta(wall.Sub(st.started), prog.Percent)
		j.Progress = &prog
	}

	// Stages: watermark, the split holding it back, busy time.
	snap.Stages = make([]status.Stage, len(st.stages))
	for i, sg := range st.stages {
		x := status.Stage{ID: i, Name: sg.name, Kind: sg.kind, Parallelism: cfg.Workers,
			Watermark: wmOf(ru.stageWatermark(sg.srcs), now)}
		if len(sg.srcs) == 0 {
			x.Watermark = wmOf(pipeline.MinTime, now)
		}
		for _, ti := range sg.transforms {
			x.Transforms = append(x.Transforms, st.names[ti])
		}
		var cs []cand
		for _, si := range sg.srcs {
			cs = append(cs, active[si]...)
		}
		slices.SortStableFunc(cs, func(a, b cand) int { return cmpTime(a.wm, b.wm) })
		if len(cs) > 0 && x.Watermark.Time != "+inf" {
			h := cs[0]
			s := ru.sources[h.src]
			if st.held[i].sp != h.sp {
				st.held[i] = heldState{sp: h.sp, since: wall}
			}
			hb := &status.HeldBack{Source: st.red(s.name), Transform: st.names[st.tIndex[s.t]], Split: st.red(h.sp.s.ID),
				Watermark: wmOf(h.wm, now), Since: st.held[i].since.UTC(), ForMillis: wall.Sub(st.held[i].since).Milliseconds()}
			if len(cs) > 1 {
				next := st.red(cs[1].sp.s.ID)
				if len(sg.srcs) > 1 {
					next = st.red(ru.sources[cs[1].src].name) + " " + next
				}
				hb.NextSplit = &next
				if finite(h.wm) && finite(cs[1].wm) {
					hb.ByMillis = ptr(int64(cs[1].wm - h.wm))
				}
				if finite(h.wm) {
					var others []int64
					for _, c := range cs[1:] {
						if finite(c.wm) {
							others = append(others, int64(c.wm))
						}
					}
					if len(others) > 0 {
						hb.MedianGapMillis = ptr(others[len(others)/2] - int64(h.wm))
					}
				}
			}
			x.HeldBack = hb
			snap.Sources[h.src].Splits[h.index].HoldsBack = true
		} else {
			st.held[i] = heldState{}
		}
		busyNow, busyBase := cur.busy[i], base.busy[i]
		if el := cur.t.Sub(base.t); el > 0 {
			x.BusyRatio = min(float64(busyNow-busyBase)/(float64(el)*float64(cfg.Workers)), 1)
		}
		x.BusyMillis = float64(busyNow) / float64(cfg.Workers) / float64(time.Millisecond)
		snap.Stages[i] = x
	}

	// Edges.
	snap.Edges = make([]status.Edge, len(st.edges))
	for i, e := range st.edges {
		if cur.edge[i] >= 0 {
			e.Elements, e.PerSecond = ptr(cur.edge[i]), rateOf(cur.edge[i], base.edge[i])
		}
		snap.Edges[i] = e
	}

	// Keyed state.
	for ki, k := range ru.keyed {
		ks := status.KeyedState{Transform: st.names[st.tIndex[k.t]], Kind: st.kinds[st.tIndex[k.t]], Stage: st.stageOf[st.tIndex[k.t]],
			EntriesPerWorker: make([]int64, len(k.cons))}
		var bytes int64
		bytesKnown := true
		for w, c := range k.cons {
			if s, ok := c.(exec.StateSize); ok {
				ks.EntriesPerWorker[w] = int64(s.StateEntries())
				ks.Entries += ks.EntriesPerWorker[w]
			}
			if b, ok := c.(stateByter); ok {
				bytes += b.StateBytes()
			} else {
				bytesKnown = false
			}
			ks.Spilled += st.spilled[w][ki]
		}
		if bytesKnown && len(k.cons) > 0 {
			ks.Bytes = &bytes
		}
		j.StateEntries += ks.Entries
		snap.State = append(snap.State, ks)
	}
	if snap.State == nil {
		snap.State = []status.KeyedState{}
	}

	// Checkpoints.
	snap.Checkpoints = status.Checkpoints{Enabled: cfg.Checkpoints != nil, IntervalMillis: cfg.EpochInterval.Milliseconds(),
		Completed: st.chkOK, Failed: st.chkFailed, RestoredFrom: st.red(ru.restoredFrom),
		RestoreMillis: stats.RestoreTime.Milliseconds(), History: make([]status.Checkpoint, len(st.chk))}
	for i, c := range st.chk {
		c.AgeMillis = wall.Sub(c.StartedAt.Add(time.Duration(c.DurationMillis) * time.Millisecond)).Milliseconds()
		snap.Checkpoints.History[i] = c
	}
	snap.Job = j
	if snap.Sources == nil {
		snap.Sources = []status.Source{}
	}
	st.history = append(st.history, cur)
	return snap
}

// sample reads the counters whose rates the snapshot shows.
func (st *statusTracker) sample(wall time.Time) statusSample {
	ru := st.ru
	n := len(st.ts)
	c := statusSample{t: wall, srcRecs: make([]int64, len(ru.sources)), srcBytes: make([]int64, len(ru.sources)),
		splitRecs: map[*split]int64{}, tIn: slices.Repeat([]int64{-1}, n), tOut: slices.Repeat([]int64{-1}, n),
		busy: make([]int64, len(st.stages)), edge: slices.Repeat([]int64{-1}, len(st.edges))}
	for si, s := range ru.sources {
		for _, sp := range s.splits {
			c.srcRecs[si] += sp.records
			c.srcBytes[si] += sp.bytes
			c.splitRecs[sp] = sp.records
		}
		c.jobRecs += c.srcRecs[si]
		c.jobBytes += c.srcBytes[si]
	}
	for w := range st.busy {
		for i, b := range st.busy[w] {
			c.busy[i] += b
		}
	}
	// Counts per output collection, where known: sources (records, dead letters), groupings (panes, in stream
	// mode: the engine does not report the panes fired by the end of input), and counting operators.
	outs := make([][]int64, n)
	for i, t := range st.ts {
		outs[i] = slices.Repeat([]int64{-1}, len(t.Outputs()))
		in, out := int64(-1), int64(-1)
		for _, x := range st.counters[i] {
			a, b := x.c.ElementCounts()
			if a >= 0 {
				in = max(in, 0) + a
			}
			if b >= 0 {
				out = max(out, 0) + b
			}
		}
		switch {
		case st.srcOf[i] >= 0:
			s := ru.sources[st.srcOf[i]]
			outs[i][0] = c.srcRecs[st.srcOf[i]]
			if len(outs[i]) > 1 {
				outs[i][1] = s.dead
			}
		case st.keyOf[i] >= 0 && out < 0 && ru.cfg.Mode == Stream && len(outs[i]) == 1 && st.emitsPanes(t):
			var p int64
			for _, m := range st.panes {
				if c := m[t.Name()]; c != nil {
					p += *c
				}
			}
			outs[i][0] = p
		}
		if out >= 0 && len(outs[i]) == 1 {
			outs[i][0] = out
		}
		if in >= 0 {
			c.tIn[i] = in
		}
		if out >= 0 {
			c.tOut[i] = out
		} else if len(outs[i]) > 0 {
			sum := int64(0)
			for _, o := range outs[i] {
				if o < 0 {
					sum = -1
					break
				}
				sum += o
			}
			c.tOut[i] = sum
		}
	}
	countOf := func(col *pipeline.Collection) int64 {
		p := col.Producer()
		for oi, o := range p.Outputs() {
			if o == col {
				return outs[st.tIndex[p]][oi]
			}
		}
		return -1
	}
	for i, t := range st.ts {
		if c.tIn[i] >= 0 || len(t.Inputs()) == 0 {
			continue
		}
		sum := int64(0)
		for _, in := range t.Inputs() {
			x := countOf(in)
			if x < 0 {
				sum = -1
				break
			}
			sum += x
		}
		c.tIn[i] = sum
	}
	for i := range st.edges {
		c.edge[i] = countOf(st.ts[st.edgeIn[i][0]].Inputs()[st.edgeIn[i][1]])
	}
	return c
}

// emitsPanes reports whether keyed transform t reports its panes (groupings do; stateful ParDos emit elements of
// their own and do not).
func (st *statusTracker) emitsPanes(t *pipeline.Transform) bool {
	kind := st.kinds[st.tIndex[t]]
	return !strings.Contains(kind, "Stateful")
}

// baseline returns the sample to compute rates against: the newest one at least statusRateWindow older than cur
// (or the oldest), dropping older ones.
func (st *statusTracker) baseline(cur statusSample) statusSample {
	h := st.history
	k := 0
	for k+1 < len(h) && cur.t.Sub(h[k+1].t) >= statusRateWindow {
		k++
	}
	st.history = h[k:]
	if len(st.history) == 0 {
		return cur
	}
	return st.history[0]
}

func wmOf(t pipeline.Time, now time.Time) status.Watermark { return status.NewWatermark(int64(t), now) }

func lagOf(b pipeline.Backlog) *status.Lag {
	l := &status.Lag{}
	if b.Records >= 0 {
		l.Records = ptr(b.Records)
	}
	if b.Behind >= 0 {
		l.BehindMillis = ptr(b.Behind.Milliseconds())
	}
	return l
}

func positionText(pos []byte) string {
	switch {
	case pos == nil:
		return "start"
	case len(pos) > 16:
		return hex.EncodeToString(pos[:16]) + "…"
	}
	return hex.EncodeToString(pos)
}

// eta estimates the time left when pct percent took elapsed, nil before anything was done.
func eta(elapsed time.Duration, pct float64) *int64 {
	if pct <= 0 {
		return nil
	}
	if pct >= 100 {
		return ptr(int64(0))
	}
	return ptr(int64(float64(elapsed.Milliseconds()) * (100 - pct) / pct))
}

func finite(t pipeline.Time) bool { return t != pipeline.MinTime && t != pipeline.MaxTime }

func cmpTime(a, b pipeline.Time) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func ptr[T any](v T) *T { return &v }
