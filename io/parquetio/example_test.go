package parquetio_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kappaflow/kappa/io/parquetio"
	"github.com/kappaflow/kappa/pipeline"
)

type PageView struct {
	URL    string    `parquet:"url"`
	At     time.Time `parquet:"at,timestamp(millisecond)"`
	Region string    `parquet:"-"`
}

// The sink writes page views into hourly folders by event time, exactly once per epoch; the source reads one hour
// back, pruning the other folder without opening it.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "parquetio-example")
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "region=eu") + "/"
	logger := slog.New(slog.DiscardHandler)

	// What a runner does with a sink: open a writer per shard, write, prepare at the end of an epoch, commit.
	sink, err := parquetio.NewSink(parquetio.WriteConfig[PageView]{
		URL: out, PartitionByEventTime: true, FolderLayout: "dt=2006-01-02/hour=15", Logger: logger,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	w, _ := sink.Open(ctx, pipeline.Shard{Index: 0, Count: 1})
	start := time.Date(2016, 9, 21, 18, 0, 0, 0, time.UTC)
	var elems []pipeline.Element[PageView]
	for i := range 4 {
		v := PageView{URL: fmt.Sprintf("/page/%d", i), At: start.Add(time.Duration(i) * 40 * time.Minute)}
		elems = append(elems, pipeline.Element[PageView]{Value: v, Time: pipeline.TimeOf(v.At), Window: pipeline.GlobalWindow})
	}
	_ = w.Write(ctx, elems)
	token, _ := w.Prepare(ctx, pipeline.Epoch{ID: 1, Final: true})
	_ = w.Commit(ctx, token)
	_ = w.Close(ctx)
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if !d.IsDir() && !strings.Contains(path, "_kappa") {
			fmt.Println(strings.TrimPrefix(path, dir+"/"))
		}
		return nil
	})

	// A backfill of 19:00-20:00 with the region taken from the folder name.
	src, _ := parquetio.NewSource(parquetio.ReadConfig[PageView]{
		URL: dir, TimeColumn: "at", Logger: logger,
		From: start.Add(time.Hour), To: start.Add(2 * time.Hour),
		TimePartitions: []parquetio.TimePartition{{Key: "dt", Layout: "2006-01-02"}, {Key: "hour", Layout: "15"}},
		PartitionFields: map[string]func(*PageView, string) error{
			"region": func(v *PageView, s string) error { v.Region = s; return nil },
		},
	})
	splits, err := src.Splits(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, split := range splits {
		r, _ := src.Open(ctx, split, nil)
		var b pipeline.Batch[PageView]
		_ = r.ReadBatch(ctx, &b, pipeline.Limits{MaxRecords: 100})
		for i, v := range b.Values {
			fmt.Println(v.URL, v.Region, b.Times[i])
		}
		r.Close()
	}
	st := src.Stats()
	fmt.Printf("files listed %d, pruned %d, read %d\n", st.FilesListed, st.FilesPruned, st.FilesRead)
	// Output:
	// region=eu/dt=2016-09-21/hour=18/_SUCCESS
	// region=eu/dt=2016-09-21/hour=18/part-e00000001-s0000-p000-0000.parquet
	// region=eu/dt=2016-09-21/hour=19/_SUCCESS
	// region=eu/dt=2016-09-21/hour=19/part-e00000001-s0000-p000-0000.parquet
	// region=eu/dt=2016-09-21/hour=20/_SUCCESS
	// region=eu/dt=2016-09-21/hour=20/part-e00000001-s0000-p000-0000.parquet
	// /page/2 eu 2016-09-21T19:20:00.000Z
	// files listed 3, pruned 2, read 1
}

// Read adds a source to a pipeline; the runner lists and reads it when the pipeline runs.
func ExampleRead() {
	p := pipeline.New()
	views := parquetio.Read(p.Root(), parquetio.ReadConfig[PageView]{URL: "s3://archive/views/", TimeColumn: "at"},
		pipeline.OutOfOrderness(2*time.Second))
	parquetio.Write(p.Root(), views, parquetio.WriteConfig[PageView]{URL: "/tmp/views-copy/", Codec: parquetio.Snappy})
	fmt.Print(p.String())
	fmt.Println(p.Err())
	// Output:
	// ReadParquet: Read(s3://archive/views/)  out: ReadParquet.out0 (parquetio_test.PageView)
	// Write: Write(/tmp/views-copy/)  in: ReadParquet.out0
	// <nil>
}
