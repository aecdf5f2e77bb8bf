package handoff_test

import (
	"context"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/testsvc/kafkatest"
	"github.com/kappaflow/kappa/io/handoff"
	"github.com/kappaflow/kappa/io/kafkaio"
	"github.com/kappaflow/kappa/io/parquetio"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
)

// Out is one output row: the decoded event.
type Out struct {
	V string `parquet:"v"`
}

var quiet = slog.New(slog.DiscardHandler)

var base = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)

// produce writes events [from, to) round-robin over parts partitions, "e-<i>", one ms of event time apart,
// skipping partitions in skip.
func produce(t *testing.T, c *kafkatest.Cluster, from, to int, parts int32, part func(i int) int32) {
	var recs []kafkatest.Record
	for i := from; i < to; i++ {
		recs = append(recs, kafkatest.Record{Partition: part(i), Value: []byte("e-" + strconv.Itoa(i)), Time: base.Add(time.Duration(i) * time.Millisecond)})
	}
	for len(recs) > 0 {
		n := min(len(recs), 500)
		c.Produce(t, "events", recs[:n]...)
		recs = recs[n:]
	}
}

// archiveNow archives everything the topic holds now into dir, with a bounded Kafka read.
func archiveNow(t *testing.T, c *kafkatest.Cluster, dir string) {
	p := pipeline.New()
	s := p.Root()
	msgs := kafkaio.Read(s, kafkaio.ReadConfig[kafkaio.Message]{Brokers: c.Brokers, Topic: "events", Bounded: true, Logger: quiet})
	handoff.Archive(s, msgs, parquetio.WriteConfig[handoff.Record]{URL: dir, MaxFileRows: 300, RowGroupRows: 100, Logger: quiet})
	require.NoError(t, local.New(local.Config{Logger: quiet}).Run(t.Context(), p))
}

// handoffPipeline reads the archive then Kafka (bounded) and writes each value to out.
// With slow > 0 each element takes that long (kill tests: a hand-off that spans many epochs).
func handoffPipeline(t testing.TB, brokers []string, archive, out string, slow time.Duration) *pipeline.Pipeline {
	src, err := handoff.NewSource(handoff.Config[string]{
		Archive: parquetio.ReadConfig[handoff.Record]{URL: archive, ProgressInterval: -1},
		Kafka:   kafkaio.ReadConfig[string]{Brokers: brokers, Topic: "events", Bounded: true},
		Logger:  quiet,
	})
	require.NoError(t, err)
	p := pipeline.New()
	s := p.Root()
	vals := pipeline.Read(s, src)
	if slow > 0 {
		vals = transforms.Map(s, vals, func(v string) string { time.Sleep(slow); return v })
	}
	parquetio.Write(s, transforms.Map(s, vals, func(v string) Out { return Out{V: v} }),
		parquetio.WriteConfig[Out]{URL: out, Logger: quiet})
	return p
}

// kafkaPipeline is the reference: the whole topic from Kafka only.
func kafkaPipeline(brokers []string, out string) *pipeline.Pipeline {
	p := pipeline.New()
	s := p.Root()
	vals := kafkaio.Read(s, kafkaio.ReadConfig[string]{Brokers: brokers, Topic: "events", Bounded: true, Logger: quiet})
	parquetio.Write(s, transforms.Map(s, vals, func(v string) Out { return Out{V: v} }),
		parquetio.WriteConfig[Out]{URL: out, Logger: quiet})
	return p
}

// readOut returns the sorted values of every Parquet file under dir (hidden folders skipped).
func readOut(t testing.TB, dir string) []string {
	var got []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if path != dir && (strings.HasPrefix(name, "_") || strings.HasPrefix(name, ".")) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() || !strings.HasSuffix(name, ".parquet") {
			return nil
		}
		rows, err := parquet.ReadFile[Out](path)
		if err != nil {
			return err
		}
		for _, r := range rows {
			got = append(got, r.V)
		}
		return nil
	})
	if !os.IsNotExist(err) {
		require.NoError(t, err)
	}
	slices.Sort(got)
	return got
}

func allEvents(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "e-" + strconv.Itoa(i)
	}
	slices.Sort(out)
	return out
}

var _ = context.Background
