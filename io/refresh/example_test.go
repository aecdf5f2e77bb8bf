package refresh_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/kappaflow/kappa/io/refresh"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
)

type Price struct {
	SKU   string
	Cents int64
}

// A CSV price list as a side input. In a stream job the file is read at the start and again every Every, and
// AsMap with transforms.Snapshots always holds the latest snapshot (a row deleted from the file disappears);
// here a batch job (Bounded) reads it once.
func Example() {
	dir, _ := os.MkdirTemp("", "refresh-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "prices.csv")
	_ = os.WriteFile(path, []byte("sku,cents\napple,120\npear,95\n"), 0o644)

	p := pipeline.New()
	s := p.Root()
	prices := refresh.Read(s.Scope("prices"), refresh.Config[Price]{
		Name:    path,
		Every:   5 * time.Minute, // stream mode: reload period
		Bounded: true,            // batch mode: load once
		Load: refresh.CSVLoad(refresh.CSVConfig[Price]{URL: path, Columns: []string{"sku", "cents"},
			Decode: func(r refresh.CSVRow) (Price, error) {
				c, err := strconv.ParseInt(r.Get("cents"), 10, 64)
				return Price{SKU: r.Get("sku"), Cents: c}, err
			}}),
	})
	bySKU := transforms.AsMap(s, transforms.KeyBy(s, prices, func(p Price) string { return p.SKU }), transforms.Snapshots())
	orders := pipelinetest.Create(s, "apple", "kiwi")
	priced := transforms.MapWithSide(s, orders, func(sku string, side transforms.Side) string {
		p, ok := bySKU.Lookup(side, sku)
		if !ok {
			return sku + ": not for sale"
		}
		return fmt.Sprintf("%s: %d cents", sku, p.Cents)
	}, bySKU)
	res := pipelinetest.Collect(s, priced)
	if err := local.New(local.Config{Workers: 1}).Run(context.Background(), p); err != nil {
		fmt.Println(err)
		return
	}
	lines := res.Values()
	slices.Sort(lines)
	for _, v := range lines {
		fmt.Println(v)
	}
	// Output:
	// apple: 120 cents
	// kiwi: not for sale
}
