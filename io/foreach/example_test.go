package foreach_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/kappaflow/kappa/io/foreach"
	"github.com/kappaflow/kappa/io/generate"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
)

var words = strings.Fields("the quick brown fox jumps over the lazy dog the end")

// Count words and collect the counts with a function: it runs on every shard at once, so it locks.
func ExampleWrite() {
	p := pipeline.New()
	s := p.Root()
	lines := generate.Read(s, generate.Config[string]{Count: int64(len(words)),
		Func: func(i int64) (string, pipeline.Time) { return words[i], pipeline.MinTime }})
	counts := transforms.CountPerKey(s, transforms.KeyBy(s, lines, func(w string) string { return w }))

	var mu sync.Mutex
	var out []string
	foreach.Write(s, counts, func(_ context.Context, c transforms.KV[string, int64]) error {
		mu.Lock()
		defer mu.Unlock()
		out = append(out, fmt.Sprintf("%s=%d", c.Key, c.Value))
		return nil
	})
	if err := local.New(local.Config{}).Run(context.Background(), p); err != nil {
		fmt.Println(err)
		return
	}
	sort.Strings(out)
	fmt.Println(strings.Join(out, " "))
	// Output:
	// brown=1 dog=1 end=1 fox=1 jumps=1 lazy=1 over=1 quick=1 the=3
}

// Per-shard state without locks, written out once per epoch: a batching writer to a (here pretend) service.
func ExampleWriteShards() {
	p := pipeline.New()
	s := p.Root()
	nums := generate.Read(s, generate.Config[int64]{Count: 1000,
		Func: func(i int64) (int64, pipeline.Time) { return i, pipeline.MinTime }})

	var mu sync.Mutex
	var sent int64 // what the pretend service received
	foreach.WriteShards(s, nums, func(_ context.Context, sh pipeline.Shard) (foreach.Shard[int64], error) {
		var batch []int64 // this shard's buffer
		return foreach.Shard[int64]{
			Each: func(_ context.Context, e pipeline.Element[int64]) error {
				batch = append(batch, e.Value)
				return nil
			},
			Flush: func(context.Context, pipeline.Epoch) error {
				mu.Lock()
				defer mu.Unlock()
				for _, v := range batch { // one request per epoch and shard
					sent += v
				}
				batch = batch[:0]
				return nil
			},
		}, nil
	})
	if err := local.New(local.Config{}).Run(context.Background(), p); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(sent)
	// Output:
	// 499500
}
