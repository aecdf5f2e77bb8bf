package pipeline

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

type recordingSink struct{ writes []int }

func (s *recordingSink) Name() string { return "rec" }
func (s *recordingSink) Open(context.Context, Shard) (SinkWriter[int], error) {
	return s, nil
}
func (s *recordingSink) Write(_ context.Context, es []Element[int]) error {
	s.writes = append(s.writes, len(es))
	return nil
}
func (s *recordingSink) Prepare(context.Context, Epoch) ([]byte, error) { return nil, nil }
func (s *recordingSink) Commit(context.Context, []byte) error           { return nil }
func (s *recordingSink) Close(context.Context) error                    { return nil }

// A sink runner hands its elements to the writer in chunks of at most sinkBuffer while they arrive, not all at
// the end of the micro-batch: a global window firing millions of totals at the end of its input held them all in
// memory (W1-totals at 1e7 keys under a 64 MB budget peaked at 1.1 GB RSS).
func TestSinkRunnerWritesInChunks(t *testing.T) {
	for _, batch := range []bool{false, true} {
		sink := &recordingSink{}
		r, err := (&writeOp[int]{sink: sink}).Open(context.Background(), Shard{Count: 1})
		require.NoError(t, err)
		sr := r.(*sinkRunner[int])
		const n = 10*sinkBuffer + 7
		chunk := make([]Element[int], 0, 100)
		for i := range n {
			if !batch {
				require.NoError(t, sr.Push(Element[int]{Value: i}))
			} else if chunk = append(chunk, Element[int]{Value: i}); len(chunk) == cap(chunk) || i == n-1 {
				require.NoError(t, sr.PushBatch(chunk))
				chunk = chunk[:0]
			}
			require.Less(t, len(sr.buf), sinkBuffer+100, "buffered elements")
		}
		require.GreaterOrEqual(t, len(sink.writes), n/(sinkBuffer+cap(chunk)), "written while pushed, batch=%v", batch)
		_, err = sr.Prepare(context.Background(), Epoch{ID: 1})
		require.NoError(t, err)
		total := 0
		for _, w := range sink.writes {
			total += w
		}
		require.Equal(t, n, total)
	}
}
