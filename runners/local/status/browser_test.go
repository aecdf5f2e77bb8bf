package status_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/runners/local/status"
)

// chromium returns the path of a Chromium (or Chrome) binary, skipping the test when there is none unless
// KAPPA_REQUIRE_SERVICES=1 (make test), where a missing browser fails it. scripts/install-chromium.sh (make
// test-deps) installs Debian's chromium.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("KAPPA_REQUIRE_SERVICES") == "1" {
		t.Fatal("no chromium on PATH: run scripts/install-chromium.sh (make test-deps)")
	}
	t.Skip("no chromium on PATH (scripts/install-chromium.sh installs it)")
	return ""
}

// browser starts a headless Chromium for the test, with a fresh profile and nothing running in the background,
// and returns a context for chromedp actions. When the test fails, a screenshot of the page is saved (the path is
// logged) to $KAPPA_ARTIFACTS, else to kappa-artifacts under the system's temporary directory.
func browser(t *testing.T, timeout time.Duration) context.Context {
	t.Helper()
	path := chromium(t)
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // tests run as root in CI containers
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1500, 1400),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() {
		if t.Failed() {
			saveScreenshot(t, ctx)
		}
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
	})
	return ctx
}

func saveScreenshot(t *testing.T, ctx context.Context) {
	dir := os.Getenv("KAPPA_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "kappa-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Logf("screenshot: %v", err)
		return
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot: %v", err)
		return
	}
	name := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+"-"+time.Now().Format("20060102-150405")+".png")
	if err := os.WriteFile(name, png, 0o644); err != nil {
		t.Logf("screenshot: %v", err)
		return
	}
	t.Logf("screenshot of the page at the failure: %s", name)
}

// pageState is what the browser test reads from the page's DOM, in one script run (one consistent render).
type pageState struct {
	Seq          int64    `json:"seq"`
	Stages       int      `json:"stages"`
	EdgeLabels   []string `json:"edgeLabels"`
	JobRecords   int64    `json:"jobRecords"`
	JobRate      float64  `json:"jobRate"`
	JobRateText  string   `json:"jobRateText"`
	JobWMTime    string   `json:"jobWMTime"`
	JobWMText    string   `json:"jobWMText"`
	StageWMTime  string   `json:"stageWMTime"`
	StageWMText  string   `json:"stageWMText"`
	HeldSplit    string   `json:"heldSplit"`
	HeldText     string   `json:"heldText"`
	HeldBy       string   `json:"heldBy"`
	GraphHeld    string   `json:"graphHeld"`
	GraphHeldTxt string   `json:"graphHeldText"`
	GraphWMTime  string   `json:"graphWMTime"`
	ReadOutRate  float64  `json:"readOutRate"`
	Splits       []struct {
		ID      string  `json:"id"`
		Records int64   `json:"records"`
		Rate    float64 `json:"rate"`
		WMTime  string  `json:"wmTime"`
		WMText  string  `json:"wmText"`
		Holds   bool    `json:"holds"`
	} `json:"splits"`
}

const readPage = `(() => {
  const q = (s) => document.querySelector(s);
  const row = q('#watermarks tr[data-stage="1"]');
  const gh = q('#graph g.stage[data-stage="1"] text.held');
  return {
    seq: +(document.body.dataset.seq || 0),
    stages: document.querySelectorAll('#graph svg g.stage').length,
    edgeLabels: [...document.querySelectorAll('#graph text.elabel')].map((e) => e.textContent),
    jobRecords: +q('#job-records').dataset.value,
    jobRate: +q('#job-rate').dataset.value,
    jobRateText: q('#job-rate').textContent,
    jobWMTime: q('#job-wm').dataset.time,
    jobWMText: q('#job-wm').textContent,
    stageWMTime: row.querySelector('td.wm').dataset.time,
    stageWMText: row.querySelector('td.wm').textContent,
    heldSplit: row.querySelector('td.held-split').dataset.split,
    heldText: row.querySelector('td.held-split').textContent,
    heldBy: row.querySelector('td.held-by').dataset.value || "",
    graphHeld: gh.dataset.split,
    graphHeldText: gh.textContent,
    graphWMTime: q('#graph g.stage[data-stage="1"] text.wm').dataset.time,
    readOutRate: +q('#transforms tr[data-transform="ReadClicks"] .t-out-rate').dataset.value,
    splits: [...document.querySelectorAll('tr.split')].map((tr) => ({
      id: tr.dataset.split,
      records: +tr.querySelector('.split-records').dataset.value,
      rate: +tr.querySelector('.split-rate').dataset.value,
      wmTime: tr.querySelector('.split-wm').dataset.time,
      wmText: tr.querySelector('.split-wm').textContent,
      holds: tr.classList.contains('holds'),
    })),
  };
})()`

// shown is how the page prints a watermark: the JSON time without the T and the Z.
func shown(jsonTime string) string { return strings.NewReplacer("T", " ", "Z", "").Replace(jsonTime) }

// TestStatusPageInBrowser opens the status page of a running stream job in headless Chromium while split a
// receives a steady stream and split b lags, waits for the graph, and checks the rates, watermarks and the split
// holding the watermark back that the page shows against the job's own Stats and snapshot.
func TestStatusPageInBrowser(t *testing.T) {
	ctx := browser(t, 90*time.Second)
	j := newStatusJob()
	j.send("a", 0, 120)
	j.send("b", 0, 90) // b stops at 89 s: it holds the watermark back
	j.start(t, statusCfg(t))
	url := j.r.StatusURL()

	// Split a receives 1000 clicks per second (event time 1 s apart), until stopped.
	var (
		mu   sync.Mutex
		sent = int64(210)
		next = 120 * time.Second
	)
	stop := make(chan struct{})
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				mu.Lock()
				j.send("a", next, 10)
				next += 10 * time.Second
				sent += 10
				mu.Unlock()
			}
		}
	}()
	defer func() {
		select {
		case <-fed:
		default:
			close(stop)
			<-fed
		}
	}()

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS(`#graph svg g.stage[data-stage="1"]`)),
	))

	// Rates: after more than the page's rate window of steady input, the page's rate must match the rate the
	// job's own Stats show over the same moments.
	time.Sleep(statusRateWindowForTest + time.Second)
	t0, r0 := time.Now(), j.r.Stats().Records
	time.Sleep(2 * time.Second)
	t1, r1 := time.Now(), j.r.Stats().Records
	live, err := chromedp.Run(ctx, chromedp.Evaluate[pageState](readPage))
	require.NoError(t, err)
	statsRate := float64(r1-r0) / t1.Sub(t0).Seconds()
	t.Logf("page: %.0f records/s (%q); the job's Stats: %.0f records/s", live.JobRate, live.JobRateText, statsRate)
	require.Positive(t, statsRate)
	require.InEpsilon(t, statsRate, live.JobRate, 0.35, "the page's rate and the job's")
	require.InEpsilon(t, live.JobRate, live.ReadOutRate, 0.01, "the source's output rate is the job's input rate")
	require.Equal(t, 2, live.Stages, "a source stage and a keyed stage")
	require.Contains(t, live.EdgeLabels, "HASH")
	require.Len(t, live.Splits, 2)
	for _, sp := range live.Splits {
		if sp.ID == "b" {
			require.Zero(t, sp.Rate, "b receives nothing")
			require.True(t, sp.Holds)
		} else {
			require.InEpsilon(t, live.JobRate, sp.Rate, 0.01, "a receives everything")
		}
	}
	require.Equal(t, "b", live.HeldSplit, "the page names the split holding the watermark back")
	require.Equal(t, "b", live.GraphHeld)

	// Stop the input; once the job has read everything the page's values settle and must equal the job's.
	close(stop)
	<-fed
	mu.Lock()
	total, lastA := sent, statusT0.Add(next-time.Second)
	mu.Unlock()
	snap := j.waitFor(t, "everything read", func(s *status.Snapshot) bool { return s.Job.Records == total })
	var page pageState
	require.Eventually(t, func() bool {
		var err error
		page, err = chromedp.Run(ctx, chromedp.Evaluate[pageState](readPage))
		return err == nil && page.Seq >= int64(snap.Seq)
	}, 10*time.Second, 50*time.Millisecond, "the page shows the final counts")
	stats := j.r.Stats()
	snap = j.r.Status()
	wmA := pipeline.TimeOf(lastA) - 1
	wmB := pipeline.TimeOf(statusT0.Add(89*time.Second)) - 1

	require.Equal(t, stats.Records, page.JobRecords)
	require.Equal(t, total, page.JobRecords)
	require.Equal(t, stats.Watermark.String(), page.JobWMTime, "the job watermark is the job's")
	require.Equal(t, wmB.String(), page.JobWMTime)
	require.Equal(t, shown(wmB.String()), page.JobWMText)
	require.Equal(t, snap.Stages[1].Watermark.Time, page.StageWMTime)
	require.Equal(t, wmB.String(), page.StageWMTime)
	require.Equal(t, shown(wmB.String()), page.StageWMText)
	require.Equal(t, wmB.String(), page.GraphWMTime)
	require.Equal(t, "b", page.HeldSplit)
	require.Contains(t, page.HeldText, "b")
	require.Equal(t, "b", page.GraphHeld)
	require.Contains(t, page.GraphHeldTxt, "held back by b by ")
	require.Equal(t, *snap.Stages[1].HeldBack.ByMillis, mustInt(t, page.HeldBy))
	require.Equal(t, int64(wmA-wmB), mustInt(t, page.HeldBy), "b is behind a by the difference of their watermarks")
	for _, sp := range page.Splits {
		switch sp.ID {
		case "a":
			require.Equal(t, total-90, sp.Records)
			require.Equal(t, wmA.String(), sp.WMTime)
			require.Equal(t, shown(wmA.String()), sp.WMText)
			require.False(t, sp.Holds)
		case "b":
			require.EqualValues(t, 90, sp.Records)
			require.Equal(t, wmB.String(), sp.WMTime)
			require.True(t, sp.Holds)
		default:
			t.Fatalf("unexpected split %q", sp.ID)
		}
	}
}

// statusRateWindowForTest is the page's rate window (runners/local's statusRateWindow, Job.RateWindowMillis).
const statusRateWindowForTest = 5 * time.Second

func mustInt(t *testing.T, s string) int64 {
	t.Helper()
	v, err := strconv.ParseInt(s, 10, 64)
	require.NoError(t, err)
	return v
}
