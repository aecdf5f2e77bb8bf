package handoff_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"

	"github.com/kappaflow/kappa/internal/testsvc/kafkatest"
	"github.com/kappaflow/kappa/io/generate"
	"github.com/kappaflow/kappa/io/handoff"
	"github.com/kappaflow/kappa/io/kafkaio"
	"github.com/kappaflow/kappa/io/objstore"
	"github.com/kappaflow/kappa/io/parquetio"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
)

// Upper is v2's output row.
type Upper struct {
	V string `parquet:"v"`
}

// Reprocess and switch: an archiver keeps the topic in Parquet with its offsets; v2 of a job reprocesses the
// archive and continues on Kafka at exactly the next offset of each partition, into a versioned output; once it
// has caught up, one atomic pointer write switches readers from v1's output to v2's.
func Example() {
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	kafka, err := kafkatest.New(kafkatest.Topic("events", 2))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer kafka.Close()
	dir, _ := os.MkdirTemp("", "handoff-example")
	defer os.RemoveAll(dir)
	run := func(p *pipeline.Pipeline) {
		if err := local.New(local.Config{Logger: quiet}).Run(ctx, p); err != nil {
			fmt.Println(err)
		}
	}
	produce := func(from, to int64) {
		p := pipeline.New()
		s := p.Root()
		ev := generate.Read(s, generate.Config[string]{Count: to - from, Func: func(i int64) (string, pipeline.Time) {
			return "event-" + strconv.FormatInt(from+i, 10), pipeline.MinTime
		}})
		kafkaio.Write(s, ev, kafkaio.WriteConfig[string]{Brokers: kafka.Brokers, Topic: "events", Logger: quiet})
		run(p)
	}

	// 1. The archiver (it runs next to v1): the topic's records with their partitions and offsets.
	produce(0, 60)
	archiver := pipeline.New()
	msgs := kafkaio.Read(archiver.Root(), kafkaio.ReadConfig[kafkaio.Message]{Brokers: kafka.Brokers, Topic: "events", Bounded: true, Logger: quiet})
	handoff.Archive(archiver.Root(), msgs, parquetio.WriteConfig[handoff.Record]{URL: dir + "/archive/", Logger: quiet})
	run(archiver)
	produce(60, 100) // newer events are only in Kafka

	// 2. v2 reads the archive, then Kafka from the next offset, into its own versioned output. (Bounded here so
	// that the example ends; a real v2 keeps running.)
	src, err := handoff.NewSource(handoff.Config[string]{
		Archive: parquetio.ReadConfig[handoff.Record]{URL: dir + "/archive/", ProgressInterval: -1},
		Kafka:   kafkaio.ReadConfig[string]{Brokers: kafka.Brokers, Topic: "events", Bounded: true},
		Logger:  quiet,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	v2 := pipeline.New()
	s := v2.Root()
	upper := transforms.Map(s, pipeline.Read(s, src), func(v string) Upper { return Upper{V: strings.ToUpper(v)} })
	parquetio.Write(s, upper, parquetio.WriteConfig[Upper]{URL: dir + "/out/v2/", Logger: quiet})
	run(v2)
	fmt.Println("partitions handed off at their archived offsets:", len(src.Cuts()) > 0) // src.Cuts(): partition → last archived offset

	// 3. Switch readers in one atomic step, then stop v1.
	if err := handoff.Switch(ctx, dir+"/out/CURRENT", dir+"/out/v2/", objstore.Config{}); err != nil {
		fmt.Println(err)
		return
	}
	cur, _ := handoff.Current(ctx, dir+"/out/CURRENT", objstore.Config{})
	fmt.Println("readers now read:", filepath.Base(cur))
	files, _ := filepath.Glob(filepath.Join(cur, "*.parquet"))
	seen := map[string]int{}
	for _, f := range files {
		rows, err := parquet.ReadFile[Upper](f)
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, r := range rows {
			seen[r.V]++
		}
	}
	fmt.Println("v2 rows:", len(seen), "distinct, EVENT-99 once:", seen["EVENT-99"] == 1)
	// Output:
	// partitions handed off at their archived offsets: true
	// readers now read: v2
	// v2 rows: 100 distinct, EVENT-99 once: true
}
