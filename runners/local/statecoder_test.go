package local_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
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

// viewAcc is examples/analytics' accumulator: unexported fields and a set as a map[string]struct{}. gob refused
// it ("type has no exported fields"); checkpoints encode state with the coder package, which encodes unexported
// fields, as spilling always did.
type viewAcc struct {
	views int64
	users map[string]struct{}
}

// viewsAndUsers counts views and distinct users per key.
type viewsAndUsers struct{}

func (viewsAndUsers) CreateAccumulator() viewAcc { return viewAcc{users: map[string]struct{}{}} }

func (viewsAndUsers) AddInput(a viewAcc, e w1.Event) viewAcc {
	a.views++
	if a.users == nil {
		a.users = map[string]struct{}{}
	}
	a.users[e.Key] = struct{}{}
	return a
}

func (viewsAndUsers) MergeAccumulators(a, b viewAcc) viewAcc {
	a.views += b.views
	if a.users == nil {
		a.users = map[string]struct{}{}
	}
	for u := range b.users {
		a.users[u] = struct{}{}
	}
	return a
}

func (viewsAndUsers) ExtractOutput(a viewAcc) string {
	return fmt.Sprintf("views=%d users=%d", a.views, len(a.users))
}

// viewJob combines viewAcc accumulators per key over fixed windows and keeps viewAcc values in a stateful DoFn's
// value, bag and map cells, emitting what they hold when each window ends.
func viewJob(feed *pipelinetest.Feed[w1.Event], f *faults, res *pipelinetest.Result[string]) *pipeline.Pipeline {
	p := pipeline.New()
	s := p.Root()
	ev := pipeline.Read(s, pipeline.Source[w1.Event](feed), pipeline.OutOfOrderness(40*time.Second), pipeline.IdleTimeout(time.Second))
	kv := transforms.Map(s, ev, func(e w1.Event) transforms.KV[string, w1.Event] {
		if f != nil && f.mapAt > 0 && f.seen.Add(1) == f.mapAt {
			panic("injected crash")
		}
		return transforms.KV[string, w1.Event]{Key: e.Key[:7], Value: e}
	})
	fixed := windowing.Into(s, kv, windowing.Fixed{Size: time.Minute})
	combined := transforms.CombinePerKey(s.Scope("views"), fixed, transforms.Combiner[w1.Event, viewAcc, string](viewsAndUsers{}))
	value := transforms.ValueState[viewAcc]{Name: "acc"}
	bag := transforms.BagState[viewAcc]{Name: "bag"}
	byUser := transforms.MapState[string, viewAcc]{Name: "byUser"}
	stateful := transforms.StatefulParDo(s.Scope("cells"), windowing.Into(s, kv, windowing.Fixed{Size: 30 * time.Second}),
		transforms.StatefulFuncs[string, w1.Event, string]{
			Process: func(_ context.Context, sc *transforms.StateContext[string], e pipeline.Element[w1.Event], _ transforms.Emitter[string]) error {
				a, ok := value.Read(sc)
				if !ok {
					a = viewsAndUsers{}.CreateAccumulator()
				}
				value.Write(sc, viewsAndUsers{}.AddInput(a, e.Value))
				if e.Value.Value%5 == 0 {
					bag.Add(sc, viewAcc{views: e.Value.Value, users: map[string]struct{}{e.Value.Key: {}}})
				}
				u, _ := byUser.Get(sc, e.Value.Key)
				byUser.Put(sc, e.Value.Key, viewsAndUsers{}.AddInput(u, e.Value))
				sc.SetEventTimer("end", sc.Window().MaxTimestamp())
				return nil
			},
			Timer: func(_ context.Context, sc *transforms.StateContext[string], _ transforms.Timer, emit transforms.Emitter[string]) error {
				a, _ := value.Read(sc)
				var bagViews int64
				for b := range bag.Read(sc) {
					bagViews += b.views
				}
				var users []string
				for u, v := range byUser.All(sc) {
					users = append(users, fmt.Sprintf("%s:%d", u, v.views))
				}
				slices.Sort(users)
				emit.Emit(fmt.Sprintf("cells %s %s %s bag=%d users=%s", sc.Window(), sc.Key(), viewsAndUsers{}.ExtractOutput(a),
					bagViews, strings.Join(users, ",")))
				return nil
			}})
	format := transforms.ParDo(s, combined, transforms.DoFunc[transforms.KV[string, string], string](func(_ context.Context, e pipeline.Element[transforms.KV[string, string]], emit transforms.Emitter[string]) error {
		emit.Emit(fmt.Sprintf("combine %s %s %s %s", e.Window, e.Value.Key, e.Value.Value, e.Pane))
		return nil
	}))
	all := transforms.Flatten(s, windowing.Into(s, format, windowing.Global{}), windowing.Into(s, stateful, windowing.Global{}))
	var sink pipeline.Sink[string] = res
	if f != nil {
		sink = flakySink[string]{Result: res, f: f}
	}
	pipeline.Write(s, all, sink)
	return p
}

// State with unexported fields and map[string]struct{} — a CombinePerKey accumulator and a stateful DoFn's value,
// bag and map cells — goes through checkpoints: a job that crashes and resumes from its checkpoints (in memory,
// and with its state spilled to disk) emits exactly what an uninterrupted job emits.
func TestCheckpointStateWithUnexportedFields(t *testing.T) {
	const n = 12000
	res := pipelinetest.NewResult[string]()
	require.NoError(t, runCheckpointed(t, viewJob(feedW1(n, 3), nil, res), nil, 2))
	want := sorted(res.Values())
	require.Greater(t, len(want), 100)
	require.NotEmpty(t, withPrefix(want, "combine "))
	require.NotEmpty(t, withPrefix(want, "cells "))
	for _, tc := range []struct {
		name  string
		spill bool
		after int
	}{{"in memory", false, 2}, {"spilled", true, 2}, {"more workers", false, 3}} {
		t.Run(tc.name, func(t *testing.T) {
			store := local.DirStore(t.TempDir())
			feed := feedW1(n, 3)
			res := pipelinetest.NewResult[string]()
			f := &faults{mapAt: n / 2}
			err := runCheckpointed(t, viewJob(feed, f, res), store, 2, tc.spill)
			require.ErrorContains(t, err, "injected")
			require.NotEmpty(t, res.Values(), "the crashed run should have committed some epochs")
			require.Less(t, len(res.Values()), len(want))
			require.NoError(t, runCheckpointed(t, viewJob(feed, nil, res), store, tc.after, tc.spill))
			require.Equal(t, want, sorted(res.Values()))
		})
	}
}

// fnAcc holds a function: the coder cannot encode it.
type fnAcc struct {
	N    int64
	Next func(int64) int64
}

// anyAcc holds an interface: its dynamic type cannot be recovered from bytes.
type anyAcc struct {
	Last any
}

// A keyed state type the coder refuses fails the run when it starts — before anything is read — if checkpoints
// or a state budget are configured, naming the transform, the type, the field path and what to do. Without them
// the state only lives in memory and the job runs.
func TestUnencodableStateRefusedAtStart(t *testing.T) {
	build := func(read *atomic.Int64, acc string) *pipeline.Pipeline {
		p := pipeline.New()
		s := p.Root()
		in := pipeline.Read(s, pipeline.Source[w1.Event](feedW1(100, 1)))
		kv := transforms.Map(s, in, func(e w1.Event) ikv {
			read.Add(1)
			return ikv{Key: e.Key[:7], Value: e.Value}
		})
		kv = windowing.Into(s, kv, windowing.Fixed{Size: time.Minute})
		switch acc {
		case "func":
			pipelinetest.Collect(s, transforms.CombinePerKey(s.Scope("fn"), kv, transforms.CombineFuncs[int64, fnAcc, int64]{
				Add:     func(a fnAcc, v int64) fnAcc { a.N += v; return a },
				Merge:   func(a, b fnAcc) fnAcc { a.N += b.N; return a },
				Extract: func(a fnAcc) int64 { return a.N }}))
		case "interface":
			pipelinetest.Collect(s, transforms.CombinePerKey(s.Scope("iface"), kv, transforms.CombineFuncs[int64, anyAcc, int64]{
				Add:     func(a anyAcc, v int64) anyAcc { a.Last = v; return a },
				Merge:   func(a, b anyAcc) anyAcc { return b },
				Extract: func(a anyAcc) int64 { v, _ := a.Last.(int64); return v }}))
		}
		return p
	}
	for _, tc := range []struct {
		acc, transform, typ, field string
	}{
		{"func", "fn/CombinePerKey", "fnAcc", "field Next (func(int64) int64)"},
		{"interface", "iface/CombinePerKey", "anyAcc", "field Last (interface {})"},
	} {
		for _, cfg := range []struct {
			name string
			cfg  func(t *testing.T) local.Config
			what string
		}{
			{"checkpoints", func(t *testing.T) local.Config {
				return idleStream(local.Config{Checkpoints: local.DirStore(t.TempDir())})
			}, "Config.Checkpoints"},
			{"state budget", func(t *testing.T) local.Config {
				return idleStream(local.Config{StateMemory: 1 << 30, SpillDir: t.TempDir()})
			}, "Config.StateMemory"},
		} {
			t.Run(tc.acc+"/"+cfg.name, func(t *testing.T) {
				var read atomic.Int64
				err := local.New(cfg.cfg(t)).Run(context.Background(), build(&read, tc.acc))
				require.Error(t, err)
				for _, s := range []string{tc.transform, "accumulator type", tc.typ, tc.field, cfg.what,
					"implement encoding.BinaryMarshaler"} {
					require.ErrorContains(t, err, s)
				}
				require.Zero(t, read.Load(), "nothing is read")
			})
		}
		t.Run(tc.acc+"/in memory", func(t *testing.T) {
			var read atomic.Int64
			require.NoError(t, local.New(idleStream(local.Config{})).Run(context.Background(), build(&read, tc.acc)))
			require.Equal(t, int64(100), read.Load())
		})
	}
}

// idleStream completes cfg for a short stream run that stops once its input is idle.
func idleStream(cfg local.Config) local.Config {
	clock := newTickClock(100 * time.Millisecond)
	cfg.Mode, cfg.Workers, cfg.Now, cfg.StopWhenIdle = local.Stream, 2, clock.Now, time.Second
	return cfg
}

// A stateful DoFn's cells are typed when they are written: a cell type the coder refuses fails the run at its
// first write (not at the first checkpoint) when the state is checkpointed, naming the transform, the cell, the
// type and the field.
func TestUnencodableCellRefusedAtFirstWrite(t *testing.T) {
	cell := transforms.ValueState[fnAcc]{Name: "fn"}
	var processed atomic.Int64
	p := pipeline.New()
	s := p.Root()
	in := pipeline.Read(s, pipeline.Source[w1.Event](feedW1(1000, 1)))
	kv := transforms.Map(s, in, func(e w1.Event) ikv { return ikv{Key: e.Key[:7], Value: e.Value} })
	pipelinetest.Collect(s, transforms.StatefulParDo(s.Scope("cells"), kv, transforms.StatefulFuncs[string, int64, int64]{
		Process: func(_ context.Context, sc *transforms.StateContext[string], e pipeline.Element[int64], _ transforms.Emitter[int64]) error {
			processed.Add(1)
			cell.Write(sc, fnAcc{N: e.Value})
			return nil
		}}))
	clock := newTickClock(100 * time.Millisecond)
	err := local.New(local.Config{Mode: local.Stream, Workers: 1, Now: clock.Now, EpochInterval: time.Hour, StopWhenIdle: time.Second,
		Checkpoints: local.DirStore(t.TempDir())}).Run(context.Background(), p)
	require.Error(t, err)
	for _, s := range []string{"cells/StatefulParDo", `state cell "fn"`, "fnAcc", "field Next"} {
		require.ErrorContains(t, err, s)
	}
	require.Equal(t, int64(1), processed.Load(), "the first write fails")
}

// Checkpoints and savepoints of format 2 (state encoded with gob, written by kappa before the coder format) still
// restore: testdata/format2 holds a savepoint and a checkpoint of checkpointedJob, taken by that version after
// the output in committed-before.txt, and a job started from either emits the rest of the uninterrupted job's
// output.
func TestRestoreFormat2(t *testing.T) {
	const n = 20000 // as when the fixture was written
	res := pipelinetest.NewResult[string]()
	require.NoError(t, runCheckpointed(t, checkpointedJob(feedW1(n, 3), nil, res), nil, 2))
	want := sorted(res.Values())
	b, err := os.ReadFile("testdata/format2/committed-before.txt")
	require.NoError(t, err)
	before := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	require.NotEmpty(t, before)
	require.Less(t, len(before), len(want))
	for _, startFrom := range []string{"format2", ""} { // the savepoint; the latest checkpoint
		t.Run("StartFrom="+startFrom, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.CopyFS(dir, os.DirFS("testdata/format2")))
			m, err := local.ReadManifest(context.Background(), local.DirStore(dir), pick(startFrom == "", "chk-00000000000000000002", "savepoint-format2"))
			require.NoError(t, err)
			require.Equal(t, 2, m.Format)
			res := pipelinetest.NewResult[string]()
			clock := newTickClock(100 * time.Millisecond)
			cfg := local.Config{Mode: local.Stream, Workers: 3, Now: clock.Now, EpochInterval: 300 * time.Millisecond,
				BatchRecords: 300, BatchWait: time.Millisecond, StopWhenIdle: 3 * time.Second,
				Checkpoints: local.DirStore(dir), StartFrom: startFrom}
			require.NoError(t, local.New(cfg).Run(context.Background(), checkpointedJob(feedW1(n, 3), nil, res)))
			require.Equal(t, want, sorted(append(slices.Clone(before), res.Values()...)))
			// The run's own checkpoints are of the current format.
			names, err := local.DirStore(dir).List(context.Background(), "chk-")
			require.NoError(t, err)
			var latest string
			for _, name := range names {
				if strings.HasSuffix(name, "/meta.json") {
					latest = strings.TrimSuffix(name, "meta.json")
				}
			}
			m, err = local.ReadManifest(context.Background(), local.DirStore(dir), strings.TrimSuffix(latest, "/"))
			require.NoError(t, err)
			require.Equal(t, 3, m.Format)
		})
	}
}

func pick(c bool, a, b string) string {
	if c {
		return a
	}
	return b
}

// accV1 and accV2 build a job whose accumulator type is called local_test.acc in both, with other fields: the
// manifest's type names match, the coder's descriptions do not.
func accV1(feed *pipelinetest.Feed[w1.Event], res *pipelinetest.Result[string]) *pipeline.Pipeline {
	type acc struct{ N int64 }
	return accJob(feed, res, transforms.CombineFuncs[int64, acc, string]{
		Add:     func(a acc, v int64) acc { a.N += v; return a },
		Merge:   func(a, b acc) acc { a.N += b.N; return a },
		Extract: func(a acc) string { return fmt.Sprint(a.N) }})
}

func accV2(feed *pipelinetest.Feed[w1.Event], res *pipelinetest.Result[string]) *pipeline.Pipeline {
	type acc struct {
		N     int64
		Count int64
	}
	return accJob(feed, res, transforms.CombineFuncs[int64, acc, string]{
		Add:     func(a acc, v int64) acc { a.N += v; a.Count++; return a },
		Merge:   func(a, b acc) acc { a.N += b.N; a.Count += b.Count; return a },
		Extract: func(a acc) string { return fmt.Sprint(a.N, a.Count) }})
}

func accJob[A any](feed *pipelinetest.Feed[w1.Event], res *pipelinetest.Result[string], c transforms.Combiner[int64, A, string]) *pipeline.Pipeline {
	p := pipeline.New()
	s := p.Root()
	in := pipeline.Read(s, pipeline.Source[w1.Event](feed), pipeline.IdleTimeout(time.Second))
	kv := windowing.Into(s, transforms.Map(s, in, func(e w1.Event) ikv { return ikv{Key: e.Key[:7], Value: e.Value} }),
		windowing.Fixed{Size: time.Hour})
	out := transforms.CombinePerKey(s.Scope("totals"), kv, c)
	pipeline.Write(s, transforms.Map(s, out, func(kv transforms.KV[string, string]) string { return kv.Key + "=" + kv.Value }),
		pipeline.Sink[string](res))
	return p
}

// An accumulator type whose fields changed under the same name is refused at restore with an error naming both
// descriptions and what to do (gob decoded such state leniently; the coder's bytes carry no field names).
func TestRestoreRefusesChangedAccumulatorFields(t *testing.T) {
	dir := t.TempDir()
	clock := newTickClock(100 * time.Millisecond)
	cfg := local.Config{Mode: local.Stream, Workers: 2, Now: clock.Now, EpochInterval: 300 * time.Millisecond,
		BatchRecords: 300, BatchWait: time.Millisecond, StopWhenIdle: time.Second, Checkpoints: local.DirStore(dir)}
	require.NoError(t, local.New(cfg).Run(context.Background(), accV1(feedW1(3000, 2), pipelinetest.NewResult[string]())))
	clock2 := newTickClock(100 * time.Millisecond)
	cfg.Now = clock2.Now
	err := local.New(cfg).Run(context.Background(), accV2(feedW1(3000, 2), pipelinetest.NewResult[string]()))
	require.Error(t, err)
	for _, s := range []string{"totals/CombinePerKey", "struct local_test.acc{N int64}", "struct local_test.acc{N int64; Count int64}",
		"the accumulator type changed", "register a migration"} {
		require.ErrorContains(t, err, s)
	}
}

// A restore in a new process — which has written no state cell yet, so knows none of their types — gives the
// uninterrupted job's output: the restored cells keep their bytes until the DoFn reads them with a type. The two
// runs are subprocesses (this test binary, running TestFreshProcessHelper).
func TestRestoreInFreshProcess(t *testing.T) {
	const n = 12000
	res := pipelinetest.NewResult[string]()
	require.NoError(t, runCheckpointed(t, viewJob(feedW1(n, 3), nil, res), nil, 2))
	want := sorted(res.Values())
	dir := t.TempDir()
	for _, phase := range []string{"crash", "resume"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestFreshProcessHelper$", "-test.count=1")
		cmd.Env = append(os.Environ(), "KAPPA_FRESH_PHASE="+phase, "KAPPA_FRESH_DIR="+dir)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		require.Contains(t, string(out), "PASS")
	}
	var got []string
	for _, phase := range []string{"crash", "resume"} {
		b, err := os.ReadFile(dir + "/" + phase + ".txt")
		require.NoError(t, err)
		got = append(got, strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")...)
	}
	require.Equal(t, want, sorted(got))
}

// TestFreshProcessHelper is one run of TestRestoreInFreshProcess (skipped unless KAPPA_FRESH_PHASE is set).
func TestFreshProcessHelper(t *testing.T) {
	phase, dir := os.Getenv("KAPPA_FRESH_PHASE"), os.Getenv("KAPPA_FRESH_DIR")
	if phase == "" {
		t.Skip("a subprocess of TestRestoreInFreshProcess")
	}
	const n = 12000
	res := pipelinetest.NewResult[string]()
	var f *faults
	if phase == "crash" {
		f = &faults{mapAt: n / 2}
	}
	err := runCheckpointed(t, viewJob(feedW1(n, 3), f, res), local.DirStore(dir+"/store"), 2)
	if phase == "crash" {
		require.ErrorContains(t, err, "injected")
	} else {
		require.NoError(t, err)
	}
	require.NotEmpty(t, res.Values())
	require.NoError(t, os.WriteFile(dir+"/"+phase+".txt", []byte(strings.Join(res.Values(), "\n")+"\n"), 0o644))
}
