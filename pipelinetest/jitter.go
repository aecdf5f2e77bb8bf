package pipelinetest

import (
	"context"
	"math/rand/v2"
	"sync"

	"github.com/kappaflow/kappa/pipeline"
)

// Jitter wraps a source so that every read returns a random number of records (1 to the runner's limit) and,
// now and then, none at all, with the randomness drawn from seed. Splits therefore progress at different,
// seed-dependent rates, which exercises many micro-batch boundaries and split interleavings: the equivalence tests
// run pipelines over jittered sources in stream mode and require the batch results. Print the seed on failure.
func Jitter[T any](src pipeline.Source[T], seed uint64) pipeline.Source[T] {
	return &jitterSource[T]{src: src, seed: seed}
}

type jitterSource[T any] struct {
	src  pipeline.Source[T]
	seed uint64
	mu   sync.Mutex
	n    uint64
}

func (j *jitterSource[T]) Name() string  { return j.src.Name() }
func (j *jitterSource[T]) Bounded() bool { return j.src.Bounded() }

func (j *jitterSource[T]) Splits(ctx context.Context) ([]pipeline.Split, error) {
	return j.src.Splits(ctx)
}

func (j *jitterSource[T]) Open(ctx context.Context, sp pipeline.Split, pos []byte) (pipeline.SplitReader[T], error) {
	r, err := j.src.Open(ctx, sp, pos)
	if err != nil {
		return nil, err
	}
	j.mu.Lock()
	j.n++
	n := j.n
	j.mu.Unlock()
	return &jitterReader[T]{r: r, rng: rand.New(rand.NewPCG(j.seed, n))}, nil
}

type jitterReader[T any] struct {
	r   pipeline.SplitReader[T]
	rng *rand.Rand
}

func (j *jitterReader[T]) ReadBatch(ctx context.Context, b *pipeline.Batch[T], lim pipeline.Limits) error {
	if j.rng.IntN(4) == 0 {
		return nil // a slow split: nothing this time
	}
	lim.MaxRecords = 1 + j.rng.IntN(max(lim.MaxRecords, 1))
	return j.r.ReadBatch(ctx, b, lim)
}

func (j *jitterReader[T]) Position() []byte { return j.r.Position() }
func (j *jitterReader[T]) Close() error     { return j.r.Close() }
