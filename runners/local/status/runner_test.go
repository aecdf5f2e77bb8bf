package status_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/runners/local/status"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

// statusT0 is the event time of the status tests' first element.
var statusT0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// secretName is the name of the status tests' source: credentials the page must never show.
const secretName = "kafka://svc-user:s3cr3t-pw@127.0.0.1:9092/clicks?sasl_password=hunter2"

// namedFeed is a Feed whose name carries credentials, as a connector URL may.
type namedFeed struct{ *pipelinetest.Feed[string] }

func (namedFeed) Name() string { return secretName }

// statusJob is a stream job over a two-split feed ("a" and "b"): per-minute counts per user, with dead letters.
type statusJob struct {
	feed   *pipelinetest.Feed[string]
	p      *pipeline.Pipeline
	counts *pipelinetest.Result[transforms.KV[string, int64]]
	r      *local.Runner
	done   chan error
	cancel context.CancelFunc
}

func newStatusJob() *statusJob {
	j := &statusJob{feed: pipelinetest.NewFeed[string]("a", "b"), p: pipeline.New(),
		counts: pipelinetest.NewResult[transforms.KV[string, int64]]()}
	s := j.p.Root()
	clicks, dead := pipeline.ReadWithDeadLetters[string](s, namedFeed{j.feed}, pipeline.ReadName("ReadClicks"))
	perMinute := windowing.Into(s, clicks, windowing.Fixed{Size: time.Minute})
	byUser := transforms.KeyBy(s, perMinute, func(v string) string { return v })
	counts := transforms.CountPerKey(s, byUser)
	pipeline.Write(s.Scope("Counts"), counts, pipeline.Sink[transforms.KV[string, int64]](j.counts))
	pipeline.Write(s.Scope("DeadLetters"), dead, pipeline.Sink[*pipeline.RecordError](pipelinetest.NewResult[*pipeline.RecordError]()))
	return j
}

// send appends n clicks to split, one per second of event time from statusT0+from.
func (j *statusJob) send(split string, from time.Duration, n int) {
	elems := make([]pipelinetest.Timed[string], n)
	for i := range elems {
		elems[i] = pipelinetest.At(fmt.Sprintf("user%d", i%3), statusT0.Add(from+time.Duration(i)*time.Second))
	}
	j.feed.Send(split, elems...)
}

func (j *statusJob) start(t *testing.T, cfg local.Config) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	j.cancel, j.done = cancel, make(chan error, 1)
	j.r = local.New(cfg)
	go func() { j.done <- j.r.Run(ctx, j.p) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-j.done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("the run did not stop")
		}
	})
	require.Eventually(t, func() bool { return j.r.StatusURL() != "" }, 10*time.Second, 5*time.Millisecond, "status page up")
}

// waitFor waits until the published snapshot satisfies ok.
func (j *statusJob) waitFor(t *testing.T, what string, ok func(s *status.Snapshot) bool) *status.Snapshot {
	t.Helper()
	var s *status.Snapshot
	require.Eventually(t, func() bool {
		s = j.r.Status()
		return s != nil && ok(s)
	}, 20*time.Second, 10*time.Millisecond, what)
	return s
}

func statusCfg(t *testing.T) local.Config {
	return local.Config{Mode: local.Stream, Workers: 2, StatusAddr: "127.0.0.1:0", BatchWait: 5 * time.Millisecond,
		EpochInterval: 200 * time.Millisecond, Checkpoints: local.DirStore(t.TempDir())}
}

func getJSON(t *testing.T, url string, v any) string {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", url, b)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	if v != nil {
		require.NoError(t, json.Unmarshal(b, v), "%s", b)
	}
	return string(b)
}

func stageNamed(s *status.Snapshot, name string) *status.Stage {
	for i := range s.Stages {
		if s.Stages[i].Name == name {
			return &s.Stages[i]
		}
	}
	return nil
}

func splitNamed(src status.Source, id string) *status.Split {
	for i := range src.Splits {
		if src.Splits[i].ID == id {
			return &src.Splits[i]
		}
	}
	return nil
}

func transformNamed(s *status.Snapshot, name string) *status.Transform {
	for i := range s.Transforms {
		if s.Transforms[i].Name == name {
			return &s.Transforms[i]
		}
	}
	return nil
}

// metricValue returns the value of the Prometheus sample name{labels} in the text exposition body.
func metricValue(t *testing.T, body, name, labels string) float64 {
	t.Helper()
	prefix := name
	if labels != "" {
		prefix += "{" + labels + "}"
	}
	for line := range strings.SplitSeq(body, "\n") {
		if rest, ok := strings.CutPrefix(line, prefix+" "); ok {
			var v float64
			_, err := fmt.Sscan(rest, &v)
			require.NoError(t, err, line)
			return v
		}
	}
	t.Fatalf("no sample %s in the metrics", prefix)
	return 0
}

func ms(t time.Time) int64 { return t.UnixMilli() }

// TestStatusAPI runs a stream job whose split b lags split a and checks every endpoint of the status page's JSON
// API against the job's own Stats, its Prometheus metrics and what the test fed it.
func TestStatusAPI(t *testing.T) {
	j := newStatusJob()
	j.send("a", 0, 300) // a: 5 minutes of event time
	j.send("b", 0, 90)  // b: 90 seconds: it holds the watermark back
	j.start(t, statusCfg(t))
	base := strings.TrimSuffix(j.r.StatusURL(), "/")
	require.True(t, strings.HasPrefix(base, "http://127.0.0.1:"), base)

	wmA, wmB := ms(statusT0.Add(299*time.Second))-1, ms(statusT0.Add(89*time.Second))-1
	j.waitFor(t, "everything read, one checkpoint", func(s *status.Snapshot) bool {
		return s.Job.Records == 390 && s.Job.Watermark.Millis != nil && *s.Job.Watermark.Millis == wmB &&
			s.Checkpoints.Completed > 0
	})
	// A late click (its window has fired) and an undecodable record.
	j.send("a", 10*time.Second, 1)
	j.feed.SendFailure("a", []byte("{not json"), errors.New("bad json"))
	j.waitFor(t, "late and dead letter counted", func(s *status.Snapshot) bool {
		return s.Job.LateDropped == 1 && s.Job.DeadLettered == 1
	})
	// Let the rate window pass with nothing new, so that counts and rates no longer move.
	time.Sleep(300 * time.Millisecond)
	stats := j.r.Stats()

	t.Run("job", func(t *testing.T) {
		var job status.Job
		getJSON(t, base+"/api/v1/job", &job)
		stats := j.r.Stats()
		require.Equal(t, "status", job.Name, "the program's name (status.test) without .test")
		require.Equal(t, "stream", job.Mode)
		require.Equal(t, status.StateRunning, job.State)
		require.Equal(t, 2, job.Workers)
		require.Equal(t, stats.Records, job.Records)
		require.EqualValues(t, 391, job.Records)
		require.Equal(t, stats.Bytes, job.Bytes)
		require.NotNil(t, job.Watermark.Millis)
		require.Equal(t, int64(stats.Watermark), *job.Watermark.Millis)
		require.Equal(t, stats.Watermark.String(), job.Watermark.Time)
		require.Equal(t, stats.LateDropped(), job.LateDropped)
		require.Equal(t, stats.TotalDeadLettered(), job.DeadLettered)
		require.Equal(t, stats.Panes.OnTime, job.Panes.OnTime)
		require.EqualValues(t, 3, job.Panes.OnTime, "the first minute fired for 3 users")
		require.GreaterOrEqual(t, job.Supersteps, stats.Supersteps-20)
		require.Nil(t, job.Progress, "an unbounded job has no progress bar")
	})

	t.Run("watermarks", func(t *testing.T) {
		var w status.Watermarks
		getJSON(t, base+"/api/v1/watermarks", &w)
		require.Len(t, w.Stages, 2)
		for _, st := range w.Stages {
			require.NotNil(t, st.Watermark.Millis)
			require.Equal(t, wmB, *st.Watermark.Millis, st.Name)
			h := st.HeldBack
			require.NotNil(t, h, st.Name)
			require.Equal(t, "b", h.Split)
			require.Equal(t, "ReadClicks", h.Transform)
			require.NotNil(t, h.NextSplit)
			require.Equal(t, "a", *h.NextSplit)
			require.NotNil(t, h.ByMillis)
			require.Equal(t, wmA-wmB, *h.ByMillis, "b is 210 s behind a")
			require.Equal(t, wmA-wmB, *h.MedianGapMillis)
			require.Equal(t, wmB, *h.Watermark.Millis)
			require.False(t, h.Since.IsZero())
			require.GreaterOrEqual(t, h.ForMillis, int64(0))
			require.NotContains(t, h.Source, "s3cr3t")
		}
		var sawA, sawB bool
		for _, sp := range w.Splits {
			switch sp.Split {
			case "a":
				sawA = true
				require.False(t, sp.HoldsBack)
				require.Equal(t, wmA, *sp.Watermark.Millis)
			case "b":
				sawB = true
				require.True(t, sp.HoldsBack)
				require.Equal(t, wmB, *sp.Watermark.Millis)
			}
		}
		require.True(t, sawA && sawB)
	})

	t.Run("sources", func(t *testing.T) {
		var srcs []status.Source
		getJSON(t, base+"/api/v1/sources", &srcs)
		require.Len(t, srcs, 1)
		src := srcs[0]
		require.Equal(t, "kafka://REDACTED@127.0.0.1:9092/clicks?sasl_password=REDACTED", src.Name)
		require.False(t, src.Bounded)
		require.Equal(t, stats.Records, src.Records)
		require.Equal(t, stats.DeadLettered[secretName], src.DeadLettered)
		require.EqualValues(t, 1, src.DeadLettered)
		a, b := splitNamed(src, "a"), splitNamed(src, "b")
		require.NotNil(t, a)
		require.NotNil(t, b)
		require.EqualValues(t, 301, a.Records)
		require.EqualValues(t, 90, b.Records)
		require.Equal(t, status.SplitReading, a.State)
		require.NotEqual(t, a.Worker, b.Worker, "splits are spread over the workers")
		require.Equal(t, "000000000000012e", a.Position, "the feed's position: 302 records (clicks and the bad one) read")
		require.Nil(t, a.Lag, "the feed does not report a backlog")
		require.EqualValues(t, ms(statusT0.Add(299*time.Second)), *a.MaxEventTime.Millis)
		require.NotNil(t, a.LastRecordAt)
		require.True(t, b.HoldsBack)
		// Rates are over the same window everywhere.
		require.InDelta(t, src.RecordsPerSecond, a.RecordsPerSecond+b.RecordsPerSecond, 1e-6)
	})

	t.Run("graph", func(t *testing.T) {
		var g status.Graph
		getJSON(t, base+"/api/v1/graph", &g)
		require.Len(t, g.Stages, 2)
		src, keyed := g.Stages[0], g.Stages[1]
		require.Equal(t, "source", src.Kind)
		require.Equal(t, []string{"ReadClicks", "WindowInto", "KeyBy", "DeadLetters/Write"}, src.Transforms)
		require.Equal(t, "keyed", keyed.Kind)
		require.Equal(t, []string{"CountPerKey", "Counts/Write"}, keyed.Transforms)
		require.Equal(t, 2, src.Parallelism)
		require.Len(t, g.Edges, 1)
		e := g.Edges[0]
		require.Equal(t, status.Edge{From: 0, To: 1, Ship: "hash", Transform: "CountPerKey", Type: "KV[string,string]",
			Elements: e.Elements, PerSecond: e.PerSecond}, e)
		require.Nil(t, e.Elements, "KeyBy does not count its output yet")
		byName := map[string]status.Transform{}
		for _, tr := range g.Transforms {
			byName[tr.Name] = tr
		}
		read := byName["ReadClicks"]
		require.Equal(t, "source", read.Role)
		require.Nil(t, read.In)
		require.EqualValues(t, stats.Records+stats.TotalDeadLettered(), *read.Out, "records and dead letters")
		require.EqualValues(t, 1, read.DeadLettered)
		require.EqualValues(t, 391, *byName["WindowInto"].In)
		require.Nil(t, byName["WindowInto"].Out, "element-wise transforms are not counted yet")
		require.EqualValues(t, 1, *byName["DeadLetters/Write"].In)
		count := byName["CountPerKey"]
		require.Equal(t, "keyed", count.Role)
		require.Equal(t, stats.Late["CountPerKey"], count.LateDropped)
		require.EqualValues(t, 1, count.LateDropped)
		require.Nil(t, count.In, "its input is not counted: KeyBy's output is unknown")
		require.Equal(t, stats.Panes.Early+stats.Panes.OnTime+stats.Panes.Late, *count.Out, "one element per pane")
		require.EqualValues(t, 3, *byName["Counts/Write"].In)
		require.Len(t, j.counts.Values(), 3)
		require.Equal(t, "sink", byName["Counts/Write"].Role)
		require.GreaterOrEqual(t, src.BusyRatio, 0.0)
		require.LessOrEqual(t, src.BusyRatio, 1.0)
		require.Positive(t, src.BusyMillis+keyed.BusyMillis, "some busy time was measured")
	})

	t.Run("state", func(t *testing.T) {
		var st []status.KeyedState
		getJSON(t, base+"/api/v1/state", &st)
		require.Len(t, st, 1)
		require.Equal(t, "CountPerKey", st[0].Transform)
		require.Len(t, st[0].EntriesPerWorker, 2)
		require.Equal(t, st[0].EntriesPerWorker[0]+st[0].EntriesPerWorker[1], st[0].Entries)
		// Windows 2..5 of a are open for 3 users each (b's watermark holds them); the first fired and went.
		require.EqualValues(t, 12, st[0].Entries)
		require.Nil(t, st[0].Bytes)
		require.Zero(t, st[0].Spilled)
	})

	t.Run("checkpoints", func(t *testing.T) {
		var c status.Checkpoints
		getJSON(t, base+"/api/v1/checkpoints", &c)
		stats := j.r.Stats()
		require.True(t, c.Enabled)
		require.EqualValues(t, 200, c.IntervalMillis)
		require.Zero(t, c.Failed)
		require.InDelta(t, stats.Checkpoints, c.Completed, 3, "the run goes on checkpointing")
		require.NotEmpty(t, c.History)
		newest := c.History[0]
		require.Equal(t, "checkpoint", newest.Kind)
		require.Positive(t, newest.Bytes)
		require.GreaterOrEqual(t, newest.AgeMillis, int64(0))
		require.True(t, strings.HasPrefix(newest.Name, "chk-"), newest.Name)
		for i := 1; i < len(c.History); i++ {
			require.Less(t, c.History[i].Epoch, c.History[i-1].Epoch, "newest first")
		}
	})

	t.Run("metrics agree", func(t *testing.T) {
		resp, err := http.Get(base + "/metrics")
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		body := string(b)
		var snap status.Snapshot
		getJSON(t, base+"/api/v1/snapshot", &snap)
		label := `source="` + secretName + `"`
		require.Equal(t, float64(snap.Job.Records), metricValue(t, body, "kappa_source_records_total", label))
		require.Equal(t, float64(*snap.Job.Watermark.Millis)/1000, metricValue(t, body, "kappa_watermark_seconds", label))
		require.Equal(t, float64(snap.Job.LateDropped), metricValue(t, body, "kappa_late_dropped_records", `transform="CountPerKey"`))
	})

	t.Run("no credentials anywhere", func(t *testing.T) {
		for _, ep := range []string{"snapshot", "job", "graph", "sources", "watermarks", "state", "checkpoints"} {
			body := getJSON(t, base+"/api/v1/"+ep, nil)
			require.NotContains(t, body, "s3cr3t", ep)
			require.NotContains(t, body, "hunter2", ep)
		}
	})

	t.Run("read-only", func(t *testing.T) {
		for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
			req, err := http.NewRequest(method, base+"/api/v1/job", strings.NewReader("{}"))
			require.NoError(t, err)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, method)
			require.Equal(t, "GET, HEAD", resp.Header.Get("Allow"))
		}
		resp, err := http.Get(base + "/api/v1/nope")
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusNotFound, resp.StatusCode)
	})

	t.Run("page", func(t *testing.T) {
		for path, want := range map[string]string{"/": "<title>kappa · status</title>", "/assets/app.js": "/api/v1/snapshot",
			"/assets/vendor/dagre.min.js": "var dagre=", "/assets/style.css": ".graph"} {
			resp, err := http.Get(base + path)
			require.NoError(t, err)
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, resp.StatusCode, path)
			require.True(t, strings.Contains(string(b), want), "%s does not contain %q", path, want)
			require.Contains(t, resp.Header.Get("Content-Security-Policy"), "default-src 'self'", path)
		}
	})
}

// TestStatusFinalSnapshot checks the state the page reports at the end of a run and that the page stops.
func TestStatusFinalSnapshot(t *testing.T) {
	j := newStatusJob()
	j.send("a", 0, 120)
	j.send("b", 0, 120)
	j.feed.End("a")
	j.feed.End("b")
	cfg := statusCfg(t)
	cfg.StopWhenIdle = 100 * time.Millisecond
	r := local.New(cfg)
	require.NoError(t, r.Run(context.Background(), j.p))
	s := r.Status()
	require.NotNil(t, s)
	require.Equal(t, status.StateFinished, s.Job.State)
	require.EqualValues(t, 240, s.Job.Records)
	require.Equal(t, "+inf", s.Job.Watermark.Time)
	for _, st := range s.Stages {
		require.Nil(t, st.HeldBack, "nothing holds back an ended input")
	}
	for _, sp := range s.Sources[0].Splits {
		require.Equal(t, status.SplitDone, sp.State)
	}
	require.Empty(t, r.StatusURL(), "the page is served only while the job runs")
}

// TestStatusAddressInUse: a status address already taken fails the run at start, before anything is read.
func TestStatusAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	j := newStatusJob()
	j.send("a", 0, 10)
	cfg := statusCfg(t)
	cfg.StatusAddr = ln.Addr().String()
	r := local.New(cfg)
	err = r.Run(context.Background(), j.p)
	require.ErrorContains(t, err, "status page: address "+ln.Addr().String()+" is already in use")
	require.Zero(t, r.Stats().Records, "nothing was read")
}

// TestStatusLoopbackByDefault: an address without a host binds the loopback interface.
func TestStatusLoopbackByDefault(t *testing.T) {
	j := newStatusJob()
	cfg := statusCfg(t)
	cfg.StatusAddr = ":0"
	j.start(t, cfg)
	require.True(t, strings.HasPrefix(j.r.StatusURL(), "http://127.0.0.1:"), j.r.StatusURL())
}
