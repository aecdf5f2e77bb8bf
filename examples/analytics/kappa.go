package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/kappaflow/kappa/internal/testsvc/kafkatest"
	"github.com/kappaflow/kappa/internal/testsvc/srtest"
	"github.com/kappaflow/kappa/io/generate"
	"github.com/kappaflow/kappa/io/kafkaio"
	"github.com/kappaflow/kappa/io/parquetio"
	"github.com/kappaflow/kappa/io/pgio"
	"github.com/kappaflow/kappa/io/schemareg"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
)

// The Avro schemas of the demo's topics, registered by the publishers under pageviews-value and urls-value.
const (
	pageViewSchema = `{"type": "record", "name": "PageView", "namespace": "kappa.analytics", "fields": [
		{"name": "url", "type": "string"},
		{"name": "user", "type": "string"},
		{"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}}]}`
	urlInfoSchema = `{"type": "record", "name": "URLInfo", "namespace": "kappa.analytics", "fields": [
		{"name": "category", "type": "string"},
		{"name": "title", "type": "string", "default": ""}]}`
)

// pgTable is the PostgreSQL table the live job upserts into.
const pgTable = "page_views_per_minute"

// demo holds the embedded services of the Kappa demo.
type demo struct {
	broker   *kafkatest.Cluster
	registry *srtest.Server
	client   *sr.Client
	log      *slog.Logger
	step     func(format string, args ...any)
}

// runKappa is the Kappa-architecture demo (make demo), analytics-on-write end to end: page views are published
// as Avro (Schema Registry wire format) to a Kafka topic of an embedded broker and archived as Parquet, and a
// compacted "urls" topic holds the URL table (with changes over time). The job BuildEnrichedPageViews joins each
// view with the URL's row valid at its event time and counts views and users per minute, URL and category. It runs
// live over the topics in stream mode, upserting its rows into PostgreSQL exactly once (pgio), and
// as a replay over the Parquet archive in batch mode; the two results and the PostgreSQL table are compared.
func runKappa(ctx context.Context, o options, out io.Writer) error {
	d := &demo{log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	d.step = func(format string, args ...any) { fmt.Fprintf(out, "• "+format+"\n", args...) }
	fmt.Fprintf(out, "kappa: one pipeline, two speeds — %d page views (seed %d) over %d minutes\n\n", o.n, o.seed, o.minutes)

	// 1. The embedded services: a Kafka broker (kfake speaks the Kafka protocol), a Schema Registry (its REST API,
	// in process), PostgreSQL (a private cluster when installed) and an archive folder.
	var err error
	if d.broker, err = kafkatest.New(kafkatest.Topic("pageviews", 4)); err != nil {
		return fmt.Errorf("start the embedded broker: %w", err)
	}
	defer d.broker.Close()
	if err := d.broker.Fake().CreateTopic("urls", 1, map[string]string{"cleanup.policy": "compact"}); err != nil {
		return fmt.Errorf("create the urls topic: %w", err)
	}
	if d.registry, err = srtest.New(); err != nil {
		return fmt.Errorf("start the schema registry: %w", err)
	}
	defer d.registry.Close()
	if d.client, err = sr.NewClient(sr.URLs(d.registry.URL)); err != nil {
		return fmt.Errorf("schema registry client: %w", err)
	}
	d.step("embedded Kafka broker on %s: topics pageviews (4 partitions) and urls (compacted); Schema Registry on %s",
		d.broker.Addr(), d.registry.URL)
	db, err := openPostgres(o.pg, d.step)
	if err != nil {
		return err
	}
	defer db.Close()
	archive := o.out
	if archive == "" {
		if archive, err = os.MkdirTemp("", "kappa-archive-"); err != nil {
			return err
		}
	}

	gen := Generator{N: o.n, Seed: o.seed, Start: start, Span: time.Duration(o.minutes) * time.Minute, Users: o.users, Parts: 1}

	// 2. The urls table: its history (rows set, changed and deleted over event time) as Avro records keyed by URL.
	changes := URLChanges(start)
	if err := d.publishURLs(ctx, changes); err != nil {
		return err
	}
	d.step("published %d changes of the urls table (Avro, schema registered as urls-value; /careers added at minute 1, /blog/kappa-1.0 recategorized at minute 2, /pricing deleted at minute 3)", len(changes))

	// 3. History: the archive holds every view, as Parquet in dt=/hour= folders.
	t0 := time.Now()
	{
		p := pipeline.New()
		s := p.Root()
		views := gen.Read(s)
		parquetio.Write(s, views, parquetio.WriteConfig[PageView]{URL: archive, FolderLayout: "dt=2006-01-02/hour=15",
			PartitionByEventTime: true, Logger: d.log})
		if err := local.New(local.Config{Workers: 1, Logger: d.log}).Run(ctx, p); err != nil {
			return fmt.Errorf("archive: %w", err)
		}
	}
	d.step("archived %d views as Parquet (dt=/hour= folders) in %s, in %v", o.n, archive, time.Since(t0).Round(time.Millisecond))

	// 4. Live: the job runs over the topics in stream mode while the views are published, one minute of event time
	// after another; each minute's rows are emitted once the watermark has passed it and upserted into PostgreSQL
	// in the epoch's transaction; every epoch is checkpointed (offsets, the join's table and the open windows), as a
	// production job would be; the job drains and stops once the topics have been quiet for a while.
	t0 = time.Now()
	var live *collected[EnrichedRow]
	var liveRunner *local.Runner
	liveErr := make(chan error, 1)
	{
		p := pipeline.New()
		s := p.Root()
		views, urls, err := d.readTopics(s, false)
		if err != nil {
			return err
		}
		rows := BuildEnrichedPageViews(s, views, urls)
		live = collect(s.Scope("Collect"), rows)
		if db.dsn != "" {
			pgio.Write(s, rows, pgio.Config[EnrichedRow]{DSN: db.dsn, Table: pgTable, JobID: "analytics-demo", CreateTable: true, Logger: d.log})
		}
		ckpt, err := os.MkdirTemp("", "kappa-checkpoints-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(ckpt)
		cfg := local.Config{Mode: local.Stream, Workers: o.workers, StopWhenIdle: 2 * time.Second, EpochInterval: 100 * time.Millisecond,
			Checkpoints: local.DirStore(ckpt), Logger: d.log, StatusAddr: o.status}
		d.step("live job: stream mode over both topics, checkpointed every epoch (100ms) in %s", ckpt)
		r := local.New(cfg)
		liveRunner = r
		go func() { liveErr <- r.Run(ctx, p) }()
		if o.status != "" {
			for deadline := time.Now().Add(5 * time.Second); r.StatusURL() == "" && time.Now().Before(deadline) && len(liveErr) == 0; {
				time.Sleep(10 * time.Millisecond)
			}
			if u := r.StatusURL(); u != "" {
				d.step("status page of the live job (open it while the job runs): %s", u)
			}
		}
	}
	perMinute := max(o.n/int64(o.minutes), 1)
	for lo := int64(0); lo < o.n; lo += perMinute {
		hi := min(lo+perMinute, o.n)
		if err := d.publishViews(ctx, gen, lo, hi); err != nil {
			return err
		}
		select {
		case err := <-liveErr: // the live job stopped early: say why now
			if err == nil {
				err = errors.New("stopped before the views were published")
			}
			return fmt.Errorf("live run over Kafka: %w", err)
		case <-time.After(300 * time.Millisecond):
		}
		d.step("published views %d..%d (Avro) to kafka://%s/pageviews; the live job has emitted %d rows so far", lo, hi-1, d.broker.Addr(), len(live.values()))
	}
	if err := <-liveErr; err != nil {
		return fmt.Errorf("live run over Kafka: %w", err)
	}
	st := liveRunner.Stats()
	d.step("live: the stream went quiet, the job drained (the last minute fired) and stopped: %d rows (%v); %d checkpoints written (the last one %d bytes)",
		len(live.values()), time.Since(t0).Round(time.Millisecond), st.Checkpoints, st.LastCheckpointBytes)

	// 5. Replay: the same job over the Parquet archive and the urls topic read to its end, in batch mode.
	t0 = time.Now()
	var replay *collected[EnrichedRow]
	{
		p := pipeline.New()
		s := p.Root()
		views := parquetio.Read(s, parquetio.ReadConfig[PageView]{URL: archive, TimeColumn: "at", Logger: d.log})
		_, urls, err := d.readTopics(s, true)
		if err != nil {
			return err
		}
		replay = collect(s, BuildEnrichedPageViews(s, views, urls))
		if err := local.New(local.Config{Workers: o.workers, Logger: d.log}).Run(ctx, p); err != nil {
			return fmt.Errorf("replay over Parquet: %w", err)
		}
	}
	d.step("replay: batch mode over the Parquet archive (and the urls topic to its end): %d rows (%v)", len(replay.values()), time.Since(t0).Round(time.Millisecond))

	// 6. What the dashboards would query.
	var stored []EnrichedRow
	if db.dsn != "" {
		if stored, err = queryRows(ctx, db.dsn); err != nil {
			return err
		}
		d.step("PostgreSQL: SELECT * FROM %s → %d rows", pgTable, len(stored))
	}
	fmt.Fprintln(out)

	same := printSideBySide(out, live.values(), replay.values())
	if !same {
		return errors.New("the live and replayed results differ")
	}
	if db.dsn != "" {
		if diff := diffRows(live.values(), stored); diff != "" {
			return fmt.Errorf("the PostgreSQL table %s differs from the live results: %s", pgTable, diff)
		}
		fmt.Fprintf(out, "identical: the PostgreSQL table %s holds exactly these %d rows, each upserted once (exactly once, pgio)\n", pgTable, len(stored))
	}
	return nil
}

// readTopics adds the sources of the job: the Avro page views of the pageviews topic and the urls changelog.
// bounded reads each topic to its end (the replay reads only the urls table that way).
func (d *demo) readTopics(s pipeline.Scope, bounded bool) (pipeline.PCollection[PageView], pipeline.PCollection[transforms.KV[string, transforms.Change[URLInfo]]], error) {
	var views pipeline.PCollection[PageView]
	viewCodec, err := schemareg.NewAvro[PageView](d.client, schemareg.AvroConfig{Schema: pageViewSchema, Topic: "pageviews", Logger: d.log})
	if err != nil {
		return views, pipeline.PCollection[transforms.KV[string, transforms.Change[URLInfo]]]{}, err
	}
	urlCodec, err := schemareg.NewAvro[URLInfo](d.client, schemareg.AvroConfig{Schema: urlInfoSchema, Topic: "urls", Logger: d.log})
	if err != nil {
		return views, pipeline.PCollection[transforms.KV[string, transforms.Change[URLInfo]]]{}, err
	}
	if !bounded {
		views = kafkaio.Read(s, kafkaio.ReadConfig[PageView]{Brokers: d.broker.Brokers, Topic: "pageviews",
			Decode: viewCodec.Decode, Logger: d.log}, pipeline.OutOfOrderness(5*time.Second), pipeline.ReadName("PageViews"))
	}
	// The table topic is written rarely: idle for a second, it stops holding the join's watermark back.
	changes := kafkaio.Read(s, kafkaio.ReadConfig[kafkaio.Change[URLInfo]]{Brokers: d.broker.Brokers, Topic: "urls",
		Decode: kafkaio.DecodeChange(urlCodec.Decode), Bounded: bounded, Logger: d.log},
		pipeline.IdleTimeout(time.Second), pipeline.ReadName("URLs"))
	table := transforms.Map(s.Scope("URLTable"), changes, func(c kafkaio.Change[URLInfo]) transforms.KV[string, transforms.Change[URLInfo]] {
		return transforms.KV[string, transforms.Change[URLInfo]]{Key: string(c.Key), Value: transforms.Change[URLInfo]{Value: c.Value, Delete: c.Deleted}}
	})
	return views, table, nil
}

// publishURLs writes the table's changes to the urls topic: key the URL, value the Avro row or null (a
// tombstone), timestamp the time the change holds from.
func (d *demo) publishURLs(ctx context.Context, changes []URLChange) error {
	codec, err := schemareg.NewAvro[URLInfo](d.client, schemareg.AvroConfig{Schema: urlInfoSchema, Topic: "urls", Register: true, Logger: d.log})
	if err != nil {
		return err
	}
	p := pipeline.New()
	s := p.Root()
	col := generate.Read(s, generate.Config[URLChange]{Count: int64(len(changes)), Splits: 1,
		Func: func(i int64) (URLChange, pipeline.Time) { return changes[i], pipeline.TimeOf(changes[i].At) }}, pipeline.ReadName("Changes"))
	kafkaio.Write(s, col, kafkaio.WriteConfig[URLChange]{Brokers: d.broker.Brokers, Topic: "urls",
		Encode: func(c URLChange) (kafkaio.Message, error) {
			m := kafkaio.Message{}
			if !c.Deleted {
				var err error
				if m, err = codec.Encode(c.Info); err != nil {
					return m, err
				}
			}
			m.Key, m.Time = []byte(c.URL), c.At
			return m, nil
		}, Logger: d.log})
	if err := local.New(local.Config{Workers: 1, Logger: d.log}).Run(ctx, p); err != nil {
		return fmt.Errorf("publish the urls table: %w", err)
	}
	return nil
}

// publishViews writes views [lo, hi) to the pageviews topic as Avro, keyed by URL, in event-time order (one
// writer).
func (d *demo) publishViews(ctx context.Context, gen Generator, lo, hi int64) error {
	codec, err := schemareg.NewAvro[PageView](d.client, schemareg.AvroConfig{Schema: pageViewSchema, Topic: "pageviews", Register: true, Logger: d.log})
	if err != nil {
		return err
	}
	p := pipeline.New()
	s := p.Root()
	views := generate.Read(s, generate.Config[PageView]{Count: hi - lo, Splits: 1,
		Func: func(i int64) (PageView, pipeline.Time) {
			v := gen.View(lo + i)
			return v, pipeline.TimeOf(v.At)
		}}, pipeline.ReadName("Views"))
	kafkaio.Write(s, views, kafkaio.WriteConfig[PageView]{Brokers: d.broker.Brokers, Topic: "pageviews",
		Encode: func(v PageView) (kafkaio.Message, error) {
			m, err := codec.Encode(v)
			m.Key = []byte(v.URL)
			return m, err
		}, Logger: d.log})
	if err := local.New(local.Config{Workers: 1, Logger: d.log}).Run(ctx, p); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	return nil
}

// printSideBySide prints the live and replayed rows next to each other and reports whether they are identical.
func printSideBySide(out io.Writer, live, replay []EnrichedRow) bool {
	type key struct {
		minute        time.Time
		url, category string
	}
	l, r := map[key]EnrichedRow{}, map[key]EnrichedRow{}
	var keys []key
	for _, x := range live {
		k := key{x.Minute, x.URL, x.Category}
		l[k] = x
		keys = append(keys, k)
	}
	for _, x := range replay {
		k := key{x.Minute, x.URL, x.Category}
		if _, ok := l[k]; !ok {
			keys = append(keys, k)
		}
		r[k] = x
	}
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(a.minute.Compare(b.minute), cmp.Compare(l[b].Views+r[b].Views, l[a].Views+r[a].Views), strings.Compare(a.url, b.url), strings.Compare(a.category, b.category))
	})
	width, cwidth := len("url"), len("category")
	for _, k := range keys {
		width, cwidth = max(width, len(k.url)), max(cwidth, len(k.category))
	}
	fmt.Fprintf(out, "%-16s  %-*s  %-*s  %18s  %18s\n", "", width, "", cwidth, "", "live (Kafka)", "replay (Parquet)")
	fmt.Fprintf(out, "%-16s  %-*s  %-*s  %8s %9s  %8s %9s\n", "minute (UTC)", width, "url", cwidth, "category", "views", "users", "views", "users")
	same := len(live) == len(replay)
	for _, k := range keys {
		a, okA := l[k]
		b, okB := r[k]
		mark := ""
		if !okA || !okB || a.Views != b.Views || a.UniqueUsers != b.UniqueUsers {
			same, mark = false, "  ≠"
		}
		fmt.Fprintf(out, "%-16s  %-*s  %-*s  %8s %9s  %8s %9s%s\n", k.minute.Format("2006-01-02 15:04"), width, k.url, cwidth, k.category,
			num(okA, a.Views), num(okA, a.UniqueUsers), num(okB, b.Views), num(okB, b.UniqueUsers), mark)
	}
	if same {
		fmt.Fprintf(out, "\nidentical: the live run over Kafka and the replay of the Parquet archive agree on all %d rows\n", len(live))
	} else {
		fmt.Fprintf(out, "\nDIFFERENT: the live run and the replay disagree (rows marked ≠)\n")
	}
	return same
}

// diffRows describes how two sets of rows differ, or returns "".
func diffRows(want, got []EnrichedRow) string {
	want, got = slices.Clone(want), slices.Clone(got)
	slices.SortFunc(want, compareEnriched)
	slices.SortFunc(got, compareEnriched)
	if len(want) != len(got) {
		return fmt.Sprintf("%d rows, want %d", len(got), len(want))
	}
	for i := range want {
		if !sameRow(want[i], got[i]) {
			return fmt.Sprintf("row %d is %+v, want %+v", i, got[i], want[i])
		}
	}
	return ""
}

// sameRow compares rows, minutes as instants.
func sameRow(a, b EnrichedRow) bool {
	return a.Minute.Equal(b.Minute) && a.URL == b.URL && a.Category == b.Category && a.Views == b.Views && a.UniqueUsers == b.UniqueUsers
}

func num(ok bool, v int64) string {
	if !ok {
		return "—"
	}
	return fmt.Sprint(v)
}
