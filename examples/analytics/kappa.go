package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/kappaflow/kappa/internal/testsvc/kafkatest"
	"github.com/kappaflow/kappa/io/generate"
	"github.com/kappaflow/kappa/io/kafkaio"
	"github.com/kappaflow/kappa/io/parquetio"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/runners/local"
)

// runKappa is the Kappa-architecture demo (make demo): the same page views are published to a Kafka topic (an
// embedded broker) and archived as Parquet; then the same pipeline, BuildPageViews, runs live over the topic in
// stream mode and as a replay over the archive in batch mode, and the two results are printed side by side.
func runKappa(ctx context.Context, o options, out io.Writer) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	step := func(format string, args ...any) { fmt.Fprintf(out, "• "+format+"\n", args...) }
	fmt.Fprintf(out, "kappa: one pipeline, two speeds — %d page views (seed %d) over %d minutes\n\n", o.n, o.seed, o.minutes)

	// 1. An embedded Kafka broker (kfake speaks the Kafka protocol) and an archive folder.
	broker, err := kafkatest.New(kafkatest.Topic("pageviews", 4))
	if err != nil {
		return fmt.Errorf("start the embedded broker: %w", err)
	}
	defer broker.Close()
	archive := o.out
	if archive == "" {
		if archive, err = os.MkdirTemp("", "kappa-archive-"); err != nil {
			return err
		}
	}
	step("embedded Kafka broker on %s, topic pageviews (4 partitions); archive folder %s", broker.Addr(), archive)

	gen := Generator{N: o.n, Seed: o.seed, Start: start, Span: time.Duration(o.minutes) * time.Minute, Users: o.users, Parts: 1}

	// 2. History: the archive holds every view, as Parquet in dt=/hour= folders.
	t0 := time.Now()
	{
		p := pipeline.New()
		s := p.Root()
		views := gen.Read(s)
		parquetio.Write(s, views, parquetio.WriteConfig[PageView]{URL: archive, FolderLayout: "dt=2006-01-02/hour=15",
			PartitionByEventTime: true, Logger: log})
		if err := local.New(local.Config{Workers: 1, Logger: log}).Run(ctx, p); err != nil {
			return fmt.Errorf("archive: %w", err)
		}
	}
	step("archived %d views as Parquet (dt=/hour= folders) in %v", o.n, time.Since(t0).Round(time.Millisecond))

	// 3. Live: the pipeline runs over the topic in stream mode while the same views are published, one minute of
	// event time after another; each minute's window fires once the watermark has passed it, and the job drains
	// and stops once the topic has been quiet for a second.
	t0 = time.Now()
	var live *collected[Row]
	liveErr := make(chan error, 1)
	{
		p := pipeline.New()
		s := p.Root()
		views := kafkaio.Read(s, kafkaio.ReadConfig[PageView]{Brokers: broker.Brokers, Topic: "pageviews",
			Decode: kafkaio.DecodeJSON[PageView], Logger: log}, pipeline.OutOfOrderness(5*time.Second))
		live = collect(s, BuildPageViews(s, views))
		cfg := local.Config{Mode: local.Stream, Workers: o.workers, StopWhenIdle: 1500 * time.Millisecond, EpochInterval: 100 * time.Millisecond,
			Logger: log, StatusAddr: o.status}
		r := local.New(cfg)
		go func() { liveErr <- r.Run(ctx, p) }()
		if o.status != "" {
			for deadline := time.Now().Add(5 * time.Second); r.StatusURL() == "" && time.Now().Before(deadline) && len(liveErr) == 0; {
				time.Sleep(10 * time.Millisecond)
			}
			if u := r.StatusURL(); u != "" {
				step("status page of the live job (open it while the job runs): %s", u)
			}
		}
	}
	perMinute := max(o.n/int64(o.minutes), 1)
	for lo := int64(0); lo < o.n; lo += perMinute {
		hi := min(lo+perMinute, o.n)
		if err := publish(ctx, broker.Brokers, gen, lo, hi, log); err != nil {
			return err
		}
		time.Sleep(300 * time.Millisecond)
		step("published views %d..%d to kafka://%s/pageviews; the live job has emitted %d rows so far", lo, hi-1, broker.Addr(), len(live.values()))
	}
	if err := <-liveErr; err != nil {
		return fmt.Errorf("live run over Kafka: %w", err)
	}
	step("live: the stream went quiet, the job drained (the last minute fired) and stopped: %d rows (%v)", len(live.values()), time.Since(t0).Round(time.Millisecond))

	// 4. Replay: the same pipeline over the Parquet archive, in batch mode.
	t0 = time.Now()
	var replay *collected[Row]
	{
		p := pipeline.New()
		s := p.Root()
		views := parquetio.Read(s, parquetio.ReadConfig[PageView]{URL: archive, TimeColumn: "at", Logger: log})
		replay = collect(s, BuildPageViews(s, views))
		if err := local.New(local.Config{Workers: o.workers, Logger: log}).Run(ctx, p); err != nil {
			return fmt.Errorf("replay over Parquet: %w", err)
		}
	}
	step("replay: batch mode over the Parquet archive: %d rows (%v)\n", len(replay.values()), time.Since(t0).Round(time.Millisecond))

	same := printSideBySide(out, live.values(), replay.values())
	if !same {
		return fmt.Errorf("the live and replayed results differ")
	}
	return nil
}

// publish writes views [lo, hi) to the topic, keyed by URL, in event-time order (one writer).
func publish(ctx context.Context, brokers []string, gen Generator, lo, hi int64, log *slog.Logger) error {
	p := pipeline.New()
	s := p.Root()
	views := generate.Read(s, generate.Config[PageView]{Count: hi - lo, Splits: 1,
		Func: func(i int64) (PageView, pipeline.Time) {
			v := gen.View(lo + i)
			return v, pipeline.TimeOf(v.At)
		}}, pipeline.ReadName("Views"))
	kafkaio.Write(s, views, kafkaio.WriteConfig[PageView]{Brokers: brokers, Topic: "pageviews",
		Encode: func(v PageView) (kafkaio.Message, error) {
			m, err := kafkaio.EncodeJSON(v)
			m.Key = []byte(v.URL)
			return m, err
		}, Logger: log})
	if err := local.New(local.Config{Workers: 1, Logger: log}).Run(ctx, p); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	return nil
}

// printSideBySide prints the live and replayed rows next to each other and reports whether they are identical.
func printSideBySide(out io.Writer, live, replay []Row) bool {
	type key struct {
		minute time.Time
		url    string
	}
	l, r := map[key]Row{}, map[key]Row{}
	var keys []key
	for _, x := range live {
		k := key{x.Minute, x.URL}
		l[k] = x
		keys = append(keys, k)
	}
	for _, x := range replay {
		k := key{x.Minute, x.URL}
		if _, ok := l[k]; !ok {
			keys = append(keys, k)
		}
		r[k] = x
	}
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(a.minute.Compare(b.minute), cmp.Compare(l[b].Views+r[b].Views, l[a].Views+r[a].Views), strings.Compare(a.url, b.url))
	})
	width := len("url")
	for _, k := range keys {
		width = max(width, len(k.url))
	}
	fmt.Fprintf(out, "%-16s  %-*s  %18s  %18s\n", "", width, "", "live (Kafka)", "replay (Parquet)")
	fmt.Fprintf(out, "%-16s  %-*s  %8s %9s  %8s %9s\n", "minute (UTC)", width, "url", "views", "users", "views", "users")
	same := len(live) == len(replay)
	for _, k := range keys {
		a, okA := l[k]
		b, okB := r[k]
		mark := ""
		if !okA || !okB || a.Views != b.Views || a.UniqueUsers != b.UniqueUsers {
			same, mark = false, "  ≠"
		}
		fmt.Fprintf(out, "%-16s  %-*s  %8s %9s  %8s %9s%s\n", k.minute.Format("2006-01-02 15:04"), width, k.url,
			num(okA, a.Views), num(okA, a.UniqueUsers), num(okB, b.Views), num(okB, b.UniqueUsers), mark)
	}
	if same {
		fmt.Fprintf(out, "\nidentical: the live run over Kafka and the replay of the Parquet archive agree on all %d rows\n", len(live))
	} else {
		fmt.Fprintf(out, "\nDIFFERENT: the live run and the replay disagree (rows marked ≠)\n")
	}
	return same
}

func num(ok bool, v int64) string {
	if !ok {
		return "—"
	}
	return fmt.Sprint(v)
}
