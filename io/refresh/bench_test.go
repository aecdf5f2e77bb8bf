package refresh_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/kappaflow/kappa/io/parquetio"
	"github.com/kappaflow/kappa/io/refresh"
)

// BenchmarkLoad measures one load of a 100,000-row table: CSVLoad (encoding/csv and a decode function) and
// ParquetLoad (io/parquetio's reader) of the same rows from a local file.
func BenchmarkLoad(b *testing.B) {
	const rows = 100_000
	dir := b.TempDir()
	var sb strings.Builder
	sb.WriteString("currency,rate\n")
	rs := make([]Rate, rows)
	for i := range rows {
		rs[i] = Rate{Currency: fmt.Sprintf("C%06d", i), Rate: float64(i) / 100}
		fmt.Fprintf(&sb, "%s,%g\n", rs[i].Currency, rs[i].Rate)
	}
	csvPath := filepath.Join(dir, "rates.csv")
	if err := os.WriteFile(csvPath, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	if err := parquet.WriteFile(filepath.Join(dir, "rates.parquet"), rs); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		load func(context.Context) ([]Rate, error)
	}{
		{"CSV", refresh.CSVLoad(refresh.CSVConfig[Rate]{URL: csvPath, Decode: decodeRate})},
		{"Parquet", refresh.ParquetLoad(parquetio.ReadConfig[Rate]{URL: filepath.Join(dir, "rates.parquet"), Logger: quiet})},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				got, err := bc.load(context.Background())
				if err != nil || len(got) != rows {
					b.Fatalf("%d rows, %v", len(got), err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
		})
	}
}
