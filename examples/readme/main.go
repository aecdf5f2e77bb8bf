// Command readme is the pipeline of README.md (see main).
package main

import (
	"context"
	"log"
	"time"

	"github.com/kappaflow/kappa/io/kafkaio"
	"github.com/kappaflow/kappa/io/parquetio"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

type PageView struct {
	URL  string    `parquet:"url" json:"url"`
	User string    `parquet:"user" json:"user"`
	At   time.Time `parquet:"at,timestamp(millisecond)" json:"at"`
}

type URLCount struct {
	URL    string    `parquet:"url"`
	Minute time.Time `parquet:"minute,timestamp(millisecond)"`
	Views  int64     `parquet:"views"`
}

// Command readme is the pipeline shown at the top of README.md: page views from Kafka, counted per URL and minute
// with early results every 10 seconds, written to Parquet on S3, checkpointed. It needs a broker and S3 to run.
func main() {
	ctx := context.Background()
	// README START
	p := pipeline.New()
	s := p.Root()
	views := kafkaio.Read(s, kafkaio.ReadConfig[PageView]{ // or parquetio.Read over s3://bucket/views/
		Brokers: []string{"127.0.0.1:9092"}, Topic: "views", Decode: kafkaio.DecodeJSON[PageView]},
		pipeline.OutOfOrderness(5*time.Second))
	perMinute := windowing.Into(s, views, windowing.Fixed{Size: time.Minute},
		windowing.WithTrigger(windowing.AfterWatermark{Early: windowing.Every(10 * time.Second)}),
		windowing.AllowedLateness(10*time.Minute))
	byURL := transforms.KeyBy(s, perMinute, func(v PageView) string { return v.URL })
	counts := transforms.CountPerKey(s, byURL)
	rows := transforms.MapWindowed(s, counts, func(c transforms.KV[string, int64], w pipeline.Window) URLCount {
		return URLCount{URL: c.Key, Minute: w.Start.Std(), Views: c.Value}
	})
	parquetio.Write(s, rows, parquetio.WriteConfig[URLCount]{URL: "s3://reports/views-per-minute/"})
	err := local.New(local.Config{Mode: local.Stream, Checkpoints: local.DirStore("/var/lib/kappa/views")}).Run(ctx, p)
	// README END
	if err != nil {
		log.Fatal(err)
	}
}
