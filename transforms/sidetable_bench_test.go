package transforms

import (
	"fmt"
	"testing"

	"github.com/kappaflow/kappa/internal/engine"
	"github.com/kappaflow/kappa/pipeline"
)

// BenchmarkSideTableAdd measures applying a changelog of 100,000 keys (one update each, then every tenth key
// deleted) to an AsTable view, against the same updates applied to an AsMap view.
func BenchmarkSideTableAdd(b *testing.B) {
	const keys = 100_000
	changes := make([]pipeline.Element[KV[string, Change[int]]], 0, keys+keys/10)
	plain := make([]pipeline.Element[KV[string, int]], 0, keys)
	for i := range keys {
		k := fmt.Sprintf("key-%06d", i)
		changes = append(changes, pipeline.Element[KV[string, Change[int]]]{Value: KV[string, Change[int]]{Key: k, Value: Change[int]{Value: i}}, Time: pipeline.Time(i)})
		plain = append(plain, pipeline.Element[KV[string, int]]{Value: KV[string, int]{Key: k, Value: i}, Time: pipeline.Time(i)})
	}
	for i := 0; i < keys; i += 10 {
		changes = append(changes, pipeline.Element[KV[string, Change[int]]]{Value: KV[string, Change[int]]{Key: changes[i].Value.Key, Value: Change[int]{Delete: true}}, Time: pipeline.Time(keys + i)})
	}
	b.Run("AsTable", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c := &tableContents[string, int]{}
			for _, e := range changes {
				c.Add(e)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(changes)), "ns/change")
	})
	b.Run("AsMap", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c := &engine.MapContents[string, int]{}
			for _, e := range plain {
				c.Add(e)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(plain)), "ns/change")
	})
}
