package status_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/testsvc/kafkatest"
	"github.com/kappaflow/kappa/io/kafkaio"
	"github.com/kappaflow/kappa/io/parquetio"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

type shotClick struct {
	Page string    `json:"page"`
	User int       `json:"user"`
	At   time.Time `json:"at"`
}

type shotRow struct {
	Page   string    `parquet:"page"`
	Window time.Time `parquet:"window,timestamp(millisecond)"`
	Clicks int64     `parquet:"clicks"`
}

// TestStatusPageScreenshot writes the screenshot of the status page shown in the README (docs/status-page.png) to
// the file $KAPPA_STATUS_SCREENSHOT names; it is skipped without it. The job: clicks read live from a 3-partition
// Kafka topic (an embedded broker) whose partition 2 is fed in bursts by a producer 6 s behind the others,
// enriched by a slow step, counted per page in 5-second windows (early panes every 2 s) and written as Parquet, with checkpoints every
// second, a few undecodable records and a few late ones.
//
//	KAPPA_STATUS_SCREENSHOT=$PWD/docs/status-page.png go test -run TestStatusPageScreenshot ./runners/local/status/
func TestStatusPageScreenshot(t *testing.T) {
	out := os.Getenv("KAPPA_STATUS_SCREENSHOT")
	if out == "" {
		t.Skip("set KAPPA_STATUS_SCREENSHOT=path.png to write the README's screenshot")
	}
	ctx := browser(t, 2*time.Minute)
	c := kafkatest.Start(t, kafkatest.Topic("clicks", 3))
	p := pipeline.New()
	s := p.Root()
	clicks, dead := kafkaio.ReadWithDeadLetters(s, kafkaio.ReadConfig[shotClick]{Brokers: c.Brokers, Topic: "clicks",
		Decode: kafkaio.DecodeJSON[shotClick], Logger: quietLogger()}, pipeline.OutOfOrderness(2*time.Second), pipeline.ReadName("ReadClicks"))
	valid := transforms.Filter(s, clicks, func(c shotClick) bool { return c.Page != "" })
	// A slow enrichment step (a lookup per click, ~40 µs): the job cannot keep up with partition 2's bursts.
	valid = transforms.Map(s.Scope("Enrich"), valid, func(c shotClick) shotClick {
		for t0 := time.Now(); time.Since(t0) < 10*time.Microsecond; {
		}
		return c
	})
	windowed := windowing.Into(s, valid, windowing.Fixed{Size: 5 * time.Second}, windowing.AllowedLateness(5*time.Second),
		windowing.WithTrigger(windowing.AfterWatermark{Early: windowing.Every(2 * time.Second)}))
	byPage := transforms.KeyBy(s, windowed, func(c shotClick) string { return c.Page })
	counts := transforms.CountPerKey(s, byPage)
	rows := transforms.MapWindowed(s, counts, func(kv transforms.KV[string, int64], w pipeline.Window) shotRow {
		return shotRow{Page: kv.Key, Window: w.Start.Std(), Clicks: kv.Value}
	})
	parquetio.Write(s.Scope("Report"), rows, parquetio.WriteConfig[shotRow]{URL: t.TempDir(), Logger: quietLogger()})
	pipeline.Write(s.Scope("DeadLetters"), dead, pipeline.Sink[*pipeline.RecordError](pipelinetest.NewResult[*pipeline.RecordError]()))

	r := local.New(local.Config{Mode: local.Stream, Workers: 2, StatusAddr: "127.0.0.1:0", JobName: "clicks-per-page", BatchRecords: 500,
		BatchWait: 50 * time.Millisecond, EpochInterval: time.Second, Checkpoints: local.DirStore(t.TempDir()), Logger: quietLogger()})
	rctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx, p) }()
	defer func() {
		cancel()
		<-done
	}()
	require.Eventually(t, func() bool { return r.StatusURL() != "" }, 10*time.Second, 10*time.Millisecond)

	pages := []string{"/", "/pricing", "/docs", "/blog", "/signup"}
	// Partitions 0 and 1: 400 clicks per round, stamped now; partition 2: bursts of 1000, stamped 6 s earlier.
	produce := func(round int) {
		var recs []kafkatest.Record
		now := time.Now()
		add := func(part int32, i int, at time.Time) {
			v := shotClick{Page: pages[i%len(pages)], User: i % 97, At: at}
			b := fmt.Appendf(nil, `{"page":%q,"user":%d,"at":%q}`, v.Page, v.User, v.At.Format(time.RFC3339Nano))
			recs = append(recs, kafkatest.Record{Partition: part, Value: b, Time: at})
		}
		for i := range 400 {
			add(int32(i%2), i, now.Add(-time.Duration(400-i)*100*time.Microsecond))
		}
		for i := range 1000 {
			add(2, i, now.Add(-6*time.Second-time.Duration(1000-i)*50*time.Microsecond))
		}
		if round%5 == 2 {
			recs = append(recs, kafkatest.Record{Partition: 1, Value: []byte(`{"page": broken`)},
				kafkatest.Record{Partition: 0, Value: []byte(`{"page":"/late","user":1}`), Time: now.Add(-5 * time.Minute)})
		}
		c.Produce(t, "clicks", recs...)
	}
	stopAt := time.Now().Add(16 * time.Second)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(r.StatusURL())))
	for i := 0; time.Now().Before(stopAt); i++ {
		produce(i)
		time.Sleep(50 * time.Millisecond)
	}
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#graph svg g.stage`))))
	time.Sleep(time.Second)
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(out, png, 0o644))
	t.Logf("wrote %s (%d bytes)", out, len(png))
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
