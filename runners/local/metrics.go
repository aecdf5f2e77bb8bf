package local

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kappaflow/kappa/internal/exec"
	"github.com/kappaflow/kappa/pipeline"
)

type metrics struct {
	records   *prometheus.CounterVec
	bytes     *prometheus.CounterVec
	late      *prometheus.GaugeVec
	overlap   *prometheus.GaugeVec
	watermark *prometheus.GaugeVec
	lag       *prometheus.GaugeVec
	batch     prometheus.Histogram
	state     *prometheus.GaugeVec
	epochs    prometheus.Counter
	emitLag   *prometheus.HistogramVec
	dead      *prometheus.GaugeVec
	future    *prometheus.GaugeVec
	panes     *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kappa_source_records_total",
			Help: "Records read from each source."}, []string{"source"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kappa_source_bytes_total",
			Help: "Bytes read from each source."}, []string{"source"}),
		late: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kappa_late_dropped_records",
			Help: "Records dropped behind the allowed lateness (or whose window's trigger had finished), per transform."}, []string{"transform"}),
		overlap: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kappa_overlapping_session_panes",
			Help: "Session panes overlapping a session already emitted for the same key (data more out of order than the bound and lateness allow), per transform."}, []string{"transform"}),
		watermark: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kappa_watermark_seconds",
			Help: "Event-time watermark of each source, Unix seconds."}, []string{"source"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kappa_watermark_lag_seconds",
			Help: "Processing time minus the watermark of each source."}, []string{"source"}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "kappa_microbatch_duration_seconds",
			Help: "Wall time of one micro-batch (read, process, fire, write).", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kappa_state_entries",
			Help: "Keyed state entries (key × window) held by each grouping."}, []string{"transform"}),
		epochs: prometheus.NewCounter(prometheus.CounterOpts{Name: "kappa_epochs_total", Help: "Epochs committed."}),
		emitLag: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "kappa_pane_emit_lag_seconds",
			Help:    "Processing time of a pane's emission minus the end of its window (event time), by pane timing: how far behind real time results are.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 20)}, []string{"timing"}),
		dead: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kappa_dead_letter_records",
			Help: "Records each source sent to its dead-letter output (undecodable, or refused by MaxFutureSkew)."}, []string{"source"}),
		future: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kappa_future_records",
			Help: "Records of each source stamped further ahead of processing time than MaxFutureSkew or FutureSkewWarning."}, []string{"source"}),
		panes: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kappa_panes",
			Help: "Panes emitted by the groupings, by timing (early, on-time, late)."}, []string{"timing"}),
	}
	for _, c := range []prometheus.Collector{m.records, m.bytes, m.late, m.overlap, m.watermark, m.lag, m.batch, m.state, m.epochs, m.emitLag, m.dead, m.future, m.panes} {
		if err := reg.Register(c); err != nil {
			// A second runner on the same registry: reuse nothing, keep going without failing the run.
			continue
		}
	}
	return m
}

// account updates metrics, stats and the progress line after a micro-batch.
func (ru *run) account(now time.Time, took time.Duration) {
	m := ru.r.metrics
	m.batch.Observe(took.Seconds())
	var recs, bytes int64
	dead, future := map[string]int64{}, map[string]int64{}
	for _, s := range ru.sources {
		recs += s.records
		bytes += s.bytes
		if s.dead > 0 || s.op.HasDeadLetters() {
			dead[s.name] += s.dead
			m.dead.WithLabelValues(s.name).Set(float64(dead[s.name]))
		}
		if s.future > 0 {
			future[s.name] += s.future
			m.future.WithLabelValues(s.name).Set(float64(future[s.name]))
		}
		m.records.WithLabelValues(s.name).Add(float64(s.readThisStep))
		m.bytes.WithLabelValues(s.name).Add(float64(s.bytesThisStep))
		if s.wm != pipeline.MinTime && s.wm != pipeline.MaxTime {
			m.watermark.WithLabelValues(s.name).Set(float64(s.wm) / 1000)
			m.lag.WithLabelValues(s.name).Set(now.Sub(s.wm.Std()).Seconds())
		}
	}
	late, overlap := map[string]int64{}, map[string]int64{}
	for _, w := range ru.workers {
		for k, v := range w.Late {
			late[k] += v
		}
		for k, v := range w.Overlapping {
			overlap[k] += v
		}
	}
	for k, v := range late {
		m.late.WithLabelValues(k).Set(float64(v))
	}
	for k, v := range overlap {
		m.overlap.WithLabelValues(k).Set(float64(v))
	}
	var panes PaneCounts
	for _, p := range ru.panes {
		panes.Early += p.Early
		panes.OnTime += p.OnTime
		panes.Late += p.Late
	}
	m.panes.WithLabelValues("early").Set(float64(panes.Early))
	m.panes.WithLabelValues("on-time").Set(float64(panes.OnTime))
	m.panes.WithLabelValues("late").Set(float64(panes.Late))
	var state int64
	if ru.r.stats.Supersteps%16 == 0 || ru.ended {
		for _, k := range ru.keyed {
			n := 0
			for _, c := range k.cons {
				if s, ok := c.(exec.StateSize); ok {
					n += s.StateEntries()
				}
			}
			state += int64(n)
			m.state.WithLabelValues(k.t.Name()).Set(float64(n))
		}
	}
	ru.r.mu.Lock()
	ru.r.stats.Records, ru.r.stats.Bytes = recs, bytes
	ru.r.stats.Supersteps++
	ru.r.stats.MaxStateEntries = max(ru.r.stats.MaxStateEntries, state)
	ru.r.stats.Late = late
	ru.r.stats.Overlapping = overlap
	ru.r.stats.DeadLettered = dead
	ru.r.stats.Future = future
	ru.r.stats.Panes = panes
	ru.r.stats.Watermark = ru.wm
	ru.r.mu.Unlock()
	if ru.cfg.Progress != nil {
		if t := time.Now(); t.Sub(ru.lastProgress) >= ru.cfg.ProgressInterval || ru.ended {
			ru.printProgress(t, recs, bytes, sum(late), sum(dead), sum(future))
		}
	}
}

func (ru *run) printProgress(t time.Time, recs, bytes, late, dead, future int64) {
	el := t.Sub(ru.lastProgress).Seconds()
	rate := float64(recs-ru.lastRecords) / max(el, 1e-9)
	ru.lastProgress, ru.lastRecords = t, recs
	var read, total int64
	for _, s := range ru.sources {
		r, tot := s.progress()
		if tot == 0 {
			read, total = 0, 0
			break
		}
		read += r
		total += tot
	}
	line := fmt.Sprintf("kappa: %s records, %s, %s rec/s, watermark %s", si(float64(recs)), byteSize(bytes), si(rate), ru.wm)
	if total > 0 {
		pct := 100 * float64(read) / float64(total)
		eta := "?"
		if done := t.Sub(ru.started).Seconds(); read > 0 {
			eta = (time.Duration(done*float64(total-read)/float64(read)) * time.Second / time.Second).Round(time.Second).String()
		}
		line += fmt.Sprintf(", %.1f%%, ETA %s", pct, eta)
	}
	line += fmt.Sprintf(", late dropped %d, dead-lettered %d", late, dead)
	if future > 0 {
		line += fmt.Sprintf(", future %d", future)
	}
	fmt.Fprintln(ru.cfg.Progress, line)
}

func si(v float64) string {
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%.2fG", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func byteSize(b int64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%d B", b)
}
