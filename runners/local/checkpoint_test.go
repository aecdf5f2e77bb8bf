package local_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/w1"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

type ikv = transforms.KV[string, int64]

// faults injects one failure at a chosen point of a run.
type faults struct {
	mapAt    int64 // panic in a Map at this element (0: never)
	seen     atomic.Int64
	commitAt int64 // fail this sink Commit (after its checkpoint is durable)
	commits  atomic.Int64
	putAt    int64 // fail this manifest Put
	puts     atomic.Int64
}

// flakyStore fails a manifest write on request.
type flakyStore struct {
	local.CheckpointStore
	f *faults
}

func (s flakyStore) Put(ctx context.Context, name string, data []byte) error {
	if strings.HasSuffix(name, "meta.json") && s.f.puts.Add(1) == s.f.putAt {
		return errors.New("injected: disk full")
	}
	return s.CheckpointStore.Put(ctx, name, data)
}

// flakySink wraps the collecting sink and fails one Commit on request.
type flakySink[T any] struct {
	*pipelinetest.Result[T]
	f *faults
}

func (s flakySink[T]) Open(ctx context.Context, sh pipeline.Shard) (pipeline.SinkWriter[T], error) {
	w, err := s.Result.Open(ctx, sh)
	return flakyWriter[T]{SinkWriter: w, f: s.f}, err
}

type flakyWriter[T any] struct {
	pipeline.SinkWriter[T]
	f *faults
}

func (w flakyWriter[T]) Commit(ctx context.Context, tok []byte) error {
	if w.f.commits.Add(1) == w.f.commitAt {
		return errors.New("injected: crash before commit")
	}
	return w.SinkWriter.Commit(ctx, tok)
}

func feedW1(n int, splits int) *pipelinetest.Feed[w1.Event] {
	f := pipelinetest.NewFeed[w1.Event]()
	for i := range n {
		e := w1.Gen(int64(i))
		e.Time = w1.BaseTime + (e.Time-w1.BaseTime)*20 // 20 ms apart: 30000 events span 10 minutes
		f.Send(fmt.Sprint(i%splits), pipelinetest.AtMillis(e, e.Time))
	}
	return f
}

// checkpointedJob builds a job with every kind of keyed state: a lifted combine over fixed windows, a sliding-
// window combine (slices), sessions, and a stateful DoFn with a timer.
func checkpointedJob(feed *pipelinetest.Feed[w1.Event], f *faults, res *pipelinetest.Result[string]) *pipeline.Pipeline {
	p := pipeline.New()
	s := p.Root()
	ev := pipeline.Read(s, pipeline.Source[w1.Event](feed), pipeline.OutOfOrderness(40*time.Second), pipeline.IdleTimeout(time.Second))
	kv := transforms.Map(s, ev, func(e w1.Event) ikv {
		if f != nil && f.mapAt > 0 && f.seen.Add(1) == f.mapAt {
			panic("injected crash")
		}
		return ikv{Key: e.Key[:8], Value: e.Value}
	})
	fixed := transforms.SumPerKey(s.Scope("fixed"), windowing.Into(s, kv, windowing.Fixed{Size: time.Minute}))
	sliding := transforms.SumPerKey(s.Scope("sliding"), windowing.Into(s, kv, windowing.Sliding{Size: 3 * time.Minute, Period: time.Minute}))
	sess := transforms.CountPerKey(s.Scope("sessions"), windowing.Into(s, kv, windowing.Sessions{Gap: 3 * time.Second}))
	seen := transforms.ValueState[int64]{Name: "n"}
	timed := transforms.StatefulParDo(s, windowing.Into(s, kv, windowing.Fixed{Size: 30 * time.Second}),
		transforms.StatefulFuncs[string, int64, ikv]{
			Process: func(_ context.Context, sc *transforms.StateContext[string], e pipeline.Element[int64], _ transforms.Emitter[ikv]) error {
				n, _ := seen.Read(sc)
				seen.Write(sc, n+e.Value)
				sc.SetEventTimer("end", sc.Window().MaxTimestamp())
				return nil
			},
			Timer: func(_ context.Context, sc *transforms.StateContext[string], _ transforms.Timer, emit transforms.Emitter[ikv]) error {
				n, _ := seen.Read(sc)
				emit.Emit(ikv{Key: sc.Key(), Value: n})
				return nil
			}})
	format := func(name string, col pipeline.PCollection[ikv]) pipeline.PCollection[string] {
		return windowing.Into(s, transforms.ParDo(s, col, transforms.DoFunc[ikv, string](func(_ context.Context, e pipeline.Element[ikv], emit transforms.Emitter[string]) error {
			emit.Emit(fmt.Sprintf("%s %s %s=%d %s", name, e.Window, e.Value.Key, e.Value.Value, e.Pane))
			return nil
		})), windowing.Global{})
	}
	all := transforms.Flatten(s, format("fixed", fixed), format("sliding", sliding), format("sessions", sess), format("timer", timed))
	var sink pipeline.Sink[string] = res
	if f != nil {
		sink = flakySink[string]{Result: res, f: f}
	}
	pipeline.Write(s, all, sink)
	return p
}

func runCheckpointed(t *testing.T, p *pipeline.Pipeline, store local.CheckpointStore, workers int, spill ...bool) error {
	t.Helper()
	clock := newTickClock(100 * time.Millisecond)
	cfg := local.Config{Mode: local.Stream, Workers: workers, Now: clock.Now, EpochInterval: 500 * time.Millisecond,
		BatchRecords: 300, BatchWait: time.Millisecond, StopWhenIdle: 3 * time.Second, Checkpoints: store}
	if len(spill) > 0 && spill[0] {
		cfg.StateMemory, cfg.SpillDir = 1, t.TempDir() // spill everything after every micro-batch
	}
	return local.New(cfg).Run(context.Background(), p)
}

func sorted(xs []string) []string {
	xs = slices.Clone(xs)
	slices.Sort(xs)
	return xs
}

func TestCheckpointRecoveryIsExactlyOnce(t *testing.T) {
	const n = 30000
	var want []string
	{
		res := pipelinetest.NewResult[string]()
		require.NoError(t, runCheckpointed(t, checkpointedJob(feedW1(n, 3), nil, res), nil, 2))
		want = sorted(res.Values())
		require.Greater(t, len(want), 1000)
	}
	for _, tc := range []struct {
		name   string
		inject func(f *faults)
		after  int             // workers of the restarted run
		spill  bool            // keyed state spilled to disk: checkpoints stream it from there
		again  func(f *faults) // a second failure, in the restarted run
	}{
		{"panic mid-batch", func(f *faults) { f.mapAt = n / 2 }, 2, false, nil},
		{"crash between checkpoint and commit", func(f *faults) { f.commitAt = 7 }, 2, false, nil},
		{"crash writing the manifest", func(f *faults) { f.putAt = 4 }, 2, false, nil},
		{"restart with more workers", func(f *faults) { f.mapAt = n / 3 }, 3, false, nil},
		{"spilled state", func(f *faults) { f.mapAt = n / 2 }, 2, true, nil},
		// Keys move between workers at a restart (the shuffle's hash is seeded per process): the chains of
		// incremental checkpoints written after a restore must not mix with the restored ones.
		{"crash, restore, crash again", func(f *faults) { f.mapAt = n / 4 }, 2, false, func(f *faults) { f.mapAt = n / 3 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := local.DirStore(t.TempDir())
			feed := feedW1(n, 3)
			res := pipelinetest.NewResult[string]()
			f := &faults{}
			tc.inject(f)
			err := runCheckpointed(t, checkpointedJob(feed, f, res), flakyStore{store, f}, 2, tc.spill)
			require.Error(t, err)
			require.Contains(t, err.Error(), "injected")
			before := len(res.Values())
			require.Greater(t, before, 0, "the crashed run should have committed some epochs")
			require.Less(t, before, len(want))
			if tc.again != nil {
				f2 := &faults{}
				tc.again(f2)
				err := runCheckpointed(t, checkpointedJob(feed, f2, res), flakyStore{store, f2}, tc.after, tc.spill)
				require.ErrorContains(t, err, "injected")
				require.Greater(t, len(res.Values()), before, "the second run should have committed some epochs")
			}
			// Restart until done (the failures are one-shot).
			require.NoError(t, runCheckpointed(t, checkpointedJob(feed, nil, res), store, tc.after, tc.spill))
			require.Equal(t, want, sorted(res.Values()))
		})
	}
}

// A checkpoint whose state the pipeline would drop is refused, naming everything it would drop, before anything is
// read (state is matched by transform name: this pipeline has none of the checkpointed keyed transforms).
func TestCheckpointOfOtherPipelineIsRefused(t *testing.T) {
	store := local.DirStore(t.TempDir())
	res := pipelinetest.NewResult[string]()
	require.NoError(t, runCheckpointed(t, checkpointedJob(feedW1(2000, 2), nil, res), store, 2))
	p := pipeline.New()
	s := p.Root()
	in := pipeline.Read(s, pipeline.Source[w1.Event](feedW1(10, 1)))
	pipelinetest.Collect(s, transforms.Map(s, in, func(e w1.Event) string { return e.Key }))
	err := local.New(local.Config{Mode: local.Stream, Checkpoints: store}).Run(context.Background(), p)
	require.ErrorContains(t, err, "cannot restore checkpoint")
	require.ErrorContains(t, err, "the state of fixed/SumPerKey (SumPerKey)")
	require.ErrorContains(t, err, "the state of sessions/CountPerKey (CountPerKey)")
	require.ErrorContains(t, err, "set AllowNonRestoredState to drop it")
}

// A damaged checkpoint — a state object corrupt or missing — is a clear error naming the object and the
// checkpoint and listing the older retained checkpoints; StartFrom restores one of them.
func TestDamagedCheckpoint(t *testing.T) {
	for _, damage := range []string{"corrupt", "missing"} {
		t.Run(damage, func(t *testing.T) {
			dir := t.TempDir()
			store := local.DirStore(dir)
			feed := feedW1(6000, 2)
			res := pipelinetest.NewResult[string]()
			f := &faults{mapAt: 4000}
			require.ErrorContains(t, runCheckpointed(t, checkpointedJob(feed, f, res), store, 2), "injected")
			latest, err := store.List(context.Background(), "chk-")
			require.NoError(t, err)
			var manifests []string
			for _, n := range latest {
				if strings.HasSuffix(n, "/meta.json") {
					manifests = append(manifests, strings.TrimSuffix(n, "/meta.json"))
				}
			}
			slices.Sort(manifests)
			require.GreaterOrEqual(t, len(manifests), 2, "a few checkpoints are retained")
			newest, older := manifests[len(manifests)-1], manifests[len(manifests)-2]
			b, err := store.Get(context.Background(), newest+"/meta.json")
			require.NoError(t, err)
			var meta struct {
				State []struct {
					Chains [][]struct{ Object string } `json:"chains"`
				} `json:"state"`
			}
			require.NoError(t, json.Unmarshal(b, &meta))
			obj := meta.State[0].Chains[0][len(meta.State[0].Chains[0])-1].Object
			path := filepath.Join(dir, filepath.FromSlash(obj))
			if damage == "missing" {
				require.NoError(t, os.Remove(path))
			} else {
				data, err := os.ReadFile(path)
				require.NoError(t, err)
				for i := len(data) / 2; i < len(data); i++ {
					data[i] ^= 0x5a
				}
				require.NoError(t, os.WriteFile(path, data, 0o644))
			}
			err = runCheckpointed(t, checkpointedJob(feed, nil, res), store, 2)
			require.Error(t, err)
			require.ErrorContains(t, err, obj)
			require.ErrorContains(t, err, "checkpoint "+newest+"/")
			require.ErrorContains(t, err, "older retained checkpoints: "+older)
			require.ErrorContains(t, err, "StartFrom")
			// Step back to the previous checkpoint.
			clock := newTickClock(100 * time.Millisecond)
			cfg := local.Config{Mode: local.Stream, Workers: 2, Now: clock.Now, EpochInterval: 500 * time.Millisecond,
				BatchRecords: 300, BatchWait: time.Millisecond, StopWhenIdle: 3 * time.Second, Checkpoints: store, StartFrom: older}
			require.NoError(t, local.New(cfg).Run(context.Background(), checkpointedJob(feed, nil, res)))
		})
	}
}
