package pgio_test

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kappaflow/kappa/internal/testsvc/pgtest"
	"github.com/kappaflow/kappa/io/pgio"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

// PageViews is a row of the page_views table: views of a URL in a minute.
type PageViews struct {
	URL    string    `pg:"url,key"`
	Minute time.Time `pg:"minute,key"`
	Views  int64     `pg:"views,add"`
}

// Count page views per URL and minute and upsert the counts into PostgreSQL, exactly once. With discarding panes
// (the default), each pane holds the views since the window's previous pane (early firings, late data), so the
// sink adds them to the stored row (Mode Add).
func Example() {
	dsn, err := pgtest.SharedDatabase("example") // "postgres://user:password@host:5432/analytics"
	if err != nil {
		fmt.Println(err)
		return
	}
	noon := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	at := func(sec int) time.Time { return noon.Add(time.Duration(sec) * time.Second) }

	p := pipeline.New()
	s := p.Root()
	views := pipelinetest.CreateTimed(s,
		pipelinetest.At("/home", at(10)), pipelinetest.At("/docs", at(20)), pipelinetest.At("/home", at(50)),
		pipelinetest.At("/home", at(70)))
	perMinute := windowing.Into(s, views, windowing.Fixed{Size: time.Minute})
	rows := transforms.MapWindowed(s, transforms.Count(s, perMinute),
		func(kv pipeline.KV[string, int64], w pipeline.Window) PageViews {
			return PageViews{URL: kv.Key, Minute: w.Start.Std().UTC(), Views: kv.Value}
		})
	pgio.Write(s, rows, pgio.Config[PageViews]{
		DSN:         dsn,
		Table:       "page_views",
		JobID:       "page-views",
		Mode:        pgio.Add,
		CreateTable: true,
	})
	if err := local.New(local.Config{}).Run(context.Background(), p); err != nil {
		fmt.Println(err)
		return
	}
	printTable(dsn, "SELECT url, minute, views FROM page_views ORDER BY url, minute")
	// Output:
	// /docs 12:00 1
	// /home 12:00 2
	// /home 12:01 1
}

// Config.Row maps values that are not structs (or computes columns); Config.Key names the key columns.
func ExampleConfig_row() {
	dsn, err := pgtest.SharedDatabase("example_row")
	if err != nil {
		fmt.Println(err)
		return
	}
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = conn.Exec(context.Background(), "CREATE TABLE latest (sensor text PRIMARY KEY, celsius double precision)")
	conn.Close(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}

	p := pipeline.New()
	s := p.Root()
	readings := pipelinetest.Create(s, pipeline.KV[string, float64]{Key: "s1", Value: 21.5}, pipeline.KV[string, float64]{Key: "s2", Value: 19})
	pgio.Write(s, readings, pgio.Config[pipeline.KV[string, float64]]{
		DSN:     dsn,
		Table:   "latest",
		Key:     []string{"sensor"},
		Columns: []string{"sensor", "celsius"},
		Row: func(kv pipeline.KV[string, float64]) ([]any, error) {
			return []any{kv.Key, kv.Value}, nil
		},
	})
	if err := local.New(local.Config{}).Run(context.Background(), p); err != nil {
		fmt.Println(err)
		return
	}
	printTable(dsn, "SELECT sensor, celsius FROM latest ORDER BY sensor")
	// Output:
	// s1 21.5
	// s2 19
}

func printTable(dsn, query string) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close(ctx)
	rs, err := conn.Query(ctx, query)
	if err != nil {
		fmt.Println(err)
		return
	}
	for rs.Next() {
		vals, err := rs.Values()
		if err != nil {
			fmt.Println(err)
			return
		}
		for i, v := range vals {
			if t, ok := v.(time.Time); ok {
				v = t.UTC().Format("15:04")
			}
			if i > 0 {
				fmt.Print(" ")
			}
			fmt.Print(v)
		}
		fmt.Println()
	}
	if err := rs.Err(); err != nil {
		fmt.Println(err)
	}
}
