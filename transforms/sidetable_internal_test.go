package transforms

import (
	"maps"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/engine"
	"github.com/kappaflow/kappa/pipeline"
)

func change(k string, v int, ms int64, pane int64) pipeline.Element[KV[string, Change[int]]] {
	return pipeline.Element[KV[string, Change[int]]]{Value: KV[string, Change[int]]{Key: k, Value: Change[int]{Value: v}},
		Time: pipeline.Time(ms), Pane: pipeline.Pane{Index: pane}}
}

func tombstone(k string, ms int64) pipeline.Element[KV[string, Change[int]]] {
	return pipeline.Element[KV[string, Change[int]]]{Value: KV[string, Change[int]]{Key: k, Value: Change[int]{Delete: true}},
		Time: pipeline.Time(ms)}
}

func tableOf(c *tableContents[string, int]) map[string]int {
	return maps.Collect(c.all())
}

// The table applies changes in event-time order, then pane order, then arrival order; a deletion keeps a
// tombstone so that an older change arriving after it does not bring the key back; Elements rebuild the same
// table, tombstones included.
func TestTableContentsOrder(t *testing.T) {
	for _, tc := range []struct {
		name    string
		changes []pipeline.Element[KV[string, Change[int]]]
		want    map[string]int
	}{
		{"later event time wins", []pipeline.Element[KV[string, Change[int]]]{change("a", 1, 10, 0), change("a", 2, 20, 0)}, map[string]int{"a": 2}},
		{"older change arriving later is ignored", []pipeline.Element[KV[string, Change[int]]]{change("a", 2, 20, 0), change("a", 1, 10, 0)}, map[string]int{"a": 2}},
		{"same time: the last to arrive wins", []pipeline.Element[KV[string, Change[int]]]{change("a", 1, 10, 0), change("a", 2, 10, 0)}, map[string]int{"a": 2}},
		{"same time: a higher pane wins", []pipeline.Element[KV[string, Change[int]]]{change("a", 2, 10, 1), change("a", 1, 10, 0)}, map[string]int{"a": 2}},
		{"tombstone removes the key", []pipeline.Element[KV[string, Change[int]]]{change("a", 1, 10, 0), change("b", 1, 10, 0), tombstone("a", 20)}, map[string]int{"b": 1}},
		{"older change after a tombstone is ignored", []pipeline.Element[KV[string, Change[int]]]{change("a", 1, 10, 0), tombstone("a", 30), change("a", 5, 20, 0)}, map[string]int{}},
		{"older tombstone is ignored", []pipeline.Element[KV[string, Change[int]]]{change("a", 1, 30, 0), tombstone("a", 20)}, map[string]int{"a": 1}},
		{"re-inserted after a tombstone", []pipeline.Element[KV[string, Change[int]]]{change("a", 1, 10, 0), tombstone("a", 20), change("a", 3, 40, 0)}, map[string]int{"a": 3}},
		{"tombstone of an unknown key", []pipeline.Element[KV[string, Change[int]]]{tombstone("a", 20), change("a", 1, 10, 0)}, map[string]int{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &tableContents[string, int]{}
			for _, e := range tc.changes {
				c.Add(e)
			}
			require.Equal(t, tc.want, tableOf(c))
			require.Equal(t, len(tc.want), c.live)
			restored := &tableContents[string, int]{}
			for _, e := range c.Elements() {
				restored.Add(e)
			}
			require.Equal(t, tc.want, tableOf(restored))
			require.Equal(t, len(tc.want), restored.live)
			// The restored tombstones still refuse older changes.
			for _, e := range tc.changes {
				restored.Add(e)
			}
			require.Equal(t, tc.want, tableOf(restored), "re-applying the changelog after a restore")
		})
	}
	var nilTable *tableContents[string, int]
	_, ok := nilTable.get("a")
	require.False(t, ok)
	require.Empty(t, tableOf(nilTable))
	require.Nil(t, nilTable.Elements())
}

// Snapshot contents hold only the latest pane: a higher pane index starts them over (a key missing from the new
// snapshot is gone), a lower one is ignored, and Elements rebuild the current snapshot.
func TestSnapshotContents(t *testing.T) {
	newMap := withSnapshots(viewOptions{snapshots: true}, func() engine.SideContents[KV[string, int]] { return &engine.MapContents[string, int]{} })
	el := func(k string, v int, pane int64) pipeline.Element[KV[string, int]] {
		return pipeline.Element[KV[string, int]]{Value: KV[string, int]{Key: k, Value: v}, Pane: pipeline.Pane{Index: pane}}
	}
	c := newMap()
	for _, e := range []pipeline.Element[KV[string, int]]{el("a", 1, 0), el("b", 1, 0), el("a", 2, 1), el("b", 9, 0), el("c", 2, 1)} {
		c.Add(e)
	}
	cur := c.(*snapshotContents[KV[string, int]]).sideContents().(*engine.MapContents[string, int])
	require.Equal(t, map[string]int{"a": 2, "c": 2}, maps.Collect(cur.All()))
	restored := newMap()
	for _, e := range c.Elements() {
		require.Equal(t, int64(1), e.Pane.Index)
		restored.Add(e)
	}
	cur = restored.(*snapshotContents[KV[string, int]]).sideContents().(*engine.MapContents[string, int])
	require.Equal(t, map[string]int{"a": 2, "c": 2}, maps.Collect(cur.All()))
	// Without the option the per-key latest pane keeps b from the first snapshot.
	plain := withSnapshots(viewOptions{}, func() engine.SideContents[KV[string, int]] { return &engine.MapContents[string, int]{} })()
	for _, e := range []pipeline.Element[KV[string, int]]{el("a", 1, 0), el("b", 1, 0), el("a", 2, 1), el("c", 2, 1)} {
		plain.Add(e)
	}
	require.Equal(t, map[string]int{"a": 2, "b": 1, "c": 2}, maps.Collect(plain.(*engine.MapContents[string, int]).All()))
}
