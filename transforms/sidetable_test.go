package transforms_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
)

// These tests run the local runner directly (not pipelinetest.Run): they are about runners/local's stream
// behaviour (holding main elements until their side window is ready) and checkpoints, which the Beam runner does
// not have; AsTable and Snapshots on Beam are tested in runners/beam (TestSideInputAsTableAndSnapshotsOnPrism).

type tableChange = transforms.KV[string, transforms.Change[int]]

func upd(k string, v int, ms int64) pipelinetest.Timed[tableChange] {
	return timed(pair(k, transforms.Change[int]{Value: v}), ms)
}

func del(k string, ms int64) pipelinetest.Timed[tableChange] {
	return timed(pair(k, transforms.Change[int]{Delete: true}), ms)
}

// describeTable formats what a main element sees of a table: its rows, sorted.
func describeTable(v transforms.TableView[string, int], side transforms.Side) string {
	var rows []string
	for k, x := range v.All(side) {
		rows = append(rows, fmt.Sprintf("%s=%d", k, x))
	}
	slices.Sort(rows)
	return fmt.Sprintf("%d rows [%s]", v.Len(side), strings.Join(rows, " "))
}

// runLocal runs p on cfg (quiet, at most 30 s) and fails the test on an error.
func runLocal(t *testing.T, p *pipeline.Pipeline, cfg local.Config) *local.Runner {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := local.New(cfg)
	require.NoError(t, r.Run(ctx, p))
	return r
}

// In batch mode an AsTable view is the complete changelog applied in event-time order, whatever order the four
// splits deliver it in: a's older update arriving after its newer one is ignored, b's tombstone removes it (and
// b's older update does not bring it back), c is deleted then re-inserted, and x was never set.
func TestAsTableBatchAppliesChangelogInEventTimeOrder(t *testing.T) {
	changelog := []pipelinetest.Timed[tableChange]{
		upd("a", 1, 10), upd("b", 1, 10), upd("c", 1, 10), upd("a", 2, 20), upd("a", 0, 15),
		del("b", 30), upd("b", 5, 25), del("c", 30), upd("c", 3, 40), upd("d", 4, 5),
	}
	for _, workers := range []int{1, 3} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			p := pipeline.New()
			s := p.Root()
			table := transforms.AsTable(s, pipeline.Read(s.Scope("changelog"), pipelinetest.Source(changelog, 4)))
			out := transforms.MapWithSide(s, pipelinetest.Create(s, "a", "b", "c", "d", "x"), func(k string, side transforms.Side) string {
				v, ok := table.Lookup(side, k)
				return fmt.Sprintf("%s: %d %v; %s", k, v, ok, describeTable(table, side))
			}, table)
			res := pipelinetest.Collect(s, out)
			runLocal(t, p, local.Config{Workers: workers})
			all := "3 rows [a=2 c=3 d=4]"
			require.ElementsMatch(t, []string{"a: 2 true; " + all, "b: 0 false; " + all, "c: 3 true; " + all,
				"d: 4 true; " + all, "x: 0 false; " + all}, res.Values())
		})
	}
}

// snap is one row of a snapshot of a table, with the snapshot's generation as its pane index.
type snap struct {
	Gen int64
	Key string
	Val int
}

// snapshotPanes emits each row with its generation as pane index, as io/refresh does.
func snapshotPanes(s pipeline.Scope, col pipeline.PCollection[snap]) pipeline.PCollection[transforms.KV[string, int]] {
	return transforms.ParDo(s, col, transforms.DoFunc[snap, transforms.KV[string, int]](func(_ context.Context, e pipeline.Element[snap], emit transforms.Emitter[transforms.KV[string, int]]) error {
		emit.EmitElement(pipeline.Element[transforms.KV[string, int]]{Value: pair(e.Value.Key, e.Value.Val), Time: e.Time,
			Window: e.Window, Pane: pipeline.Pane{Index: e.Value.Gen}})
		return nil
	}))
}

// With Snapshots, a keyed view holds the latest snapshot only: b, missing from snapshot 1, is gone from AsMap,
// AsMultiMap and AsTable; without the option AsMap keeps b's value from snapshot 0 (its key's latest pane).
// Elements of snapshot 0 arriving after snapshot 1 (four splits) are stale and ignored.
func TestSnapshotsViewsReplaceTheWholeTable(t *testing.T) {
	rows := []pipelinetest.Timed[snap]{
		timed(snap{0, "a", 1}, 0), timed(snap{0, "b", 1}, 0), timed(snap{0, "c", 1}, 0),
		timed(snap{1, "a", 2}, 1), timed(snap{1, "c", 2}, 1), timed(snap{1, "c", 3}, 1),
	}
	p := pipeline.New()
	s := p.Root()
	kvs := snapshotPanes(s, pipeline.Read(s.Scope("snapshots"), pipelinetest.Source(rows, 4)))
	whole := transforms.AsMap(s, kvs, transforms.Snapshots())
	perKey := transforms.AsMap(s, kvs)
	multi := transforms.AsMultiMap(s, kvs, transforms.Snapshots())
	table := transforms.AsTable(s, transforms.Map(s, kvs, func(kv transforms.KV[string, int]) tableChange {
		return pair(kv.Key, transforms.Change[int]{Value: kv.Value})
	}), transforms.Snapshots())
	out := transforms.MapWithSide(s, pipelinetest.Create(s, "b", "c"), func(k string, side transforms.Side) string {
		w, wok := whole.Lookup(side, k)
		pk, pok := perKey.Lookup(side, k)
		tv, tok := table.Lookup(side, k)
		return fmt.Sprintf("%s: snapshots %d %v (%d keys) per-key %d %v multi %v table %d %v (%d rows)", k, w, wok, whole.Len(side),
			pk, pok, slices.Sorted(slices.Values(multi.Lookup(side, k))), tv, tok, table.Len(side))
	}, whole, perKey, multi, table)
	res := pipelinetest.Collect(s, out)
	runLocal(t, p, local.Config{Workers: 2})
	require.ElementsMatch(t, []string{
		"b: snapshots 0 false (2 keys) per-key 1 true multi [] table 0 false (2 rows)",
		"c: snapshots 3 true (2 keys) per-key 3 true multi [2 3] table 3 true (2 rows)",
	}, res.Values())
}

// The table is in checkpoints, tombstones included: the first run applies a changelog with a deletion of b and
// answers main elements; it is cancelled, and the restored run (three workers instead of two) gets an update of
// a, b's older update that arrived late (ignored: the restored tombstone is newer) and new main elements, which
// see the restored table with the new update.
func TestAsTableCheckpointRestore(t *testing.T) {
	store := local.DirStore(t.TempDir())
	changes := pipelinetest.NewFeed[tableChange]("0")
	mainFeed := pipelinetest.NewFeed[string]("0")
	res := pipelinetest.NewResult[string]()
	build := func() *pipeline.Pipeline {
		p := pipeline.New()
		s := p.Root()
		table := transforms.AsTable(s, pipeline.Read(s.Scope("changelog"), pipeline.Source[tableChange](changes)))
		out := transforms.MapWithSide(s, pipeline.Read(s.Scope("main"), pipeline.Source[string](mainFeed)), func(q string, side transforms.Side) string {
			return q + " " + describeTable(table, side)
		}, table)
		pipeline.Write(s, out, pipeline.Sink[string](res))
		return p
	}
	run := func(ctx context.Context, workers int, idle time.Duration) error {
		return local.New(local.Config{Mode: local.Stream, Workers: workers, EpochInterval: 20 * time.Millisecond,
			BatchWait: time.Millisecond, StopWhenIdle: idle, Checkpoints: store, Logger: quiet}).Run(ctx, build())
	}
	changes.Send("0", upd("a", 1, 10), upd("b", 1, 10), upd("c", 1, 10), del("b", 30))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	go func() {
		// The first main element waits for the side input to have data; it is sent once the changelog is read.
		time.Sleep(100 * time.Millisecond)
		mainFeed.Send("0", timed("q1", 100))
		for len(res.Values()) < 1 && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond) // a few checkpoints after q1
		cancel()
	}()
	require.ErrorIs(t, run(ctx, 2, 0), context.Canceled)
	require.Equal(t, []string{"q1 2 rows [a=1 c=1]"}, res.Values())

	// Sent before the restored run starts: the changes are read in the same micro-batch as q2 or before it, and a
	// micro-batch's side elements apply before its main elements.
	changes.Send("0", upd("a", 2, 40), upd("b", 7, 20))
	changes.End("0")
	mainFeed.Send("0", timed("q2", 200))
	mainFeed.End("0")
	require.NoError(t, run(context.Background(), 3, 500*time.Millisecond))
	require.Equal(t, []string{"q1 2 rows [a=1 c=1]", "q2 2 rows [a=2 c=1]"}, res.Values())
}
