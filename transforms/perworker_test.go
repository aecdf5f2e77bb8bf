package transforms_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
)

// tagger keeps per-worker state in its fields, Beam style: a "connection" opened in Setup and a count.
type tagger struct {
	prefix string // configuration, copied to every worker
	mu     *sync.Mutex
	opened *[]string // shared log of the connections opened, to check one per worker

	conn  string // per worker
	count int    // per worker
}

func (t *tagger) NewWorker() any {
	c := *t
	return &c
}

func (t *tagger) Setup(context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.conn = fmt.Sprintf("conn-%d", len(*t.opened))
	*t.opened = append(*t.opened, t.conn)
	return nil
}

func (t *tagger) ProcessElement(_ context.Context, e pipeline.Element[int], emit transforms.Emitter[string]) error {
	t.count++ // no lock needed: this instance belongs to one worker
	emit.Emit(fmt.Sprintf("%s:%d", t.prefix, e.Value))
	return nil
}

func (t *tagger) Teardown(context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	*t.opened = append(*t.opened, fmt.Sprintf("closed %s after %d", t.conn, t.count))
	return nil
}

// A DoFn implementing PerWorker gets one instance per worker: Setup, ProcessElement and Teardown run on it, its
// fields are its own (the race detector would see shared ones), and the configuration is copied.
func TestPerWorkerDoFnInstances(t *testing.T) {
	var opened []string
	fn := &tagger{prefix: "x", mu: &sync.Mutex{}, opened: &opened}
	p := pipeline.New()
	s := p.Root()
	var in []int
	for i := range 1000 {
		in = append(in, i)
	}
	out := transforms.ParDo(s, pipelinetest.Create(s, in...), transforms.DoFn[int, string](fn))
	var want []string
	for _, i := range in {
		want = append(want, fmt.Sprintf("x:%d", i))
	}
	pipelinetest.Equals(s, out, want...)
	pipelinetest.Run(t, p, local.Config{Workers: 3})
	require.Empty(t, fn.conn, "the configured value itself is not used")
	require.ElementsMatch(t, []string{"conn-0", "conn-1", "conn-2"}, opened[:3])
	total := 0
	for _, line := range opened[3:] {
		var conn string
		var n int
		_, err := fmt.Sscanf(line, "closed %s after %d", &conn, &n)
		require.NoError(t, err)
		total += n
	}
	require.Len(t, opened, 6)
	require.Equal(t, 1000, total, "each element processed once, by one worker's instance")
}

type badWorker struct{}

func (badWorker) NewWorker() any { return "not a DoFn" }
func (badWorker) ProcessElement(context.Context, pipeline.Element[int], transforms.Emitter[int]) error {
	return nil
}

func TestPerWorkerWrongTypeIsAnError(t *testing.T) {
	p := pipeline.New()
	s := p.Root()
	transforms.ParDo(s, pipelinetest.Create(s, 1), transforms.DoFn[int, int](badWorker{}), transforms.Name("Bad"))
	err := local.New(local.Config{Workers: 1}).Run(context.Background(), p)
	require.ErrorContains(t, err, "Bad: NewWorker returned string, not a DoFn[int, int]")
}
