package local_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
)

// countingSource is a bounded source of splits 0..n-1 (10 records each) that counts how many readers are open.
type countingSource struct {
	n             int
	mu            sync.Mutex
	open, maxOpen int
}

func (c *countingSource) Name() string  { return "counting" }
func (c *countingSource) Bounded() bool { return true }
func (c *countingSource) Splits(context.Context) ([]pipeline.Split, error) {
	var out []pipeline.Split
	for i := range c.n {
		out = append(out, pipeline.Split{ID: fmt.Sprint(i)})
	}
	return out, nil
}
func (c *countingSource) Open(context.Context, pipeline.Split, []byte) (pipeline.SplitReader[int], error) {
	c.mu.Lock()
	c.open++
	c.maxOpen = max(c.maxOpen, c.open)
	c.mu.Unlock()
	return &countingReader{c: c}, nil
}

type countingReader struct {
	c    *countingSource
	read int
}

func (r *countingReader) ReadBatch(_ context.Context, b *pipeline.Batch[int], lim pipeline.Limits) error {
	for r.read < 10 && b.Len() < lim.MaxRecords {
		b.Add(r.read, pipeline.MinTime)
		r.read++
	}
	if r.read == 10 {
		return pipeline.ErrEndOfInput
	}
	return nil
}
func (r *countingReader) Position() []byte { return nil }
func (r *countingReader) Close() error {
	r.c.mu.Lock()
	r.c.open--
	r.c.mu.Unlock()
	return nil
}

// A worker reads at most OpenSplits splits of a bounded source at a time, and still reads them all.
func TestBoundedSourceOpensFewSplitsAtATime(t *testing.T) {
	src := &countingSource{n: 40}
	p := pipeline.New()
	s := p.Root()
	res := pipelinetest.Collect(s, pipeline.Read(s, pipeline.Source[int](src)))
	require.NoError(t, local.New(local.Config{Workers: 2, OpenSplits: 3, BatchRecords: 4}).Run(context.Background(), p))
	require.Len(t, res.Values(), 400)
	require.LessOrEqual(t, src.maxOpen, 2*3)
	require.Zero(t, src.open)
}
