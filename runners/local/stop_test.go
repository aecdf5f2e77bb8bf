package local_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
)

// Stop ends a run at the end of a micro-batch with a final checkpoint: a run resumed from it emits the rest, and
// together they emit exactly the output of one uninterrupted run. The checkpoint is listed and readable through
// the exported manifest API.
func TestStopTakesFinalCheckpoint(t *testing.T) {
	const n = 20000
	want := func() []string {
		res := pipelinetest.NewResult[string]()
		require.NoError(t, runCheckpointed(t, checkpointedJob(feedW1(n, 3), nil, res), nil, 2))
		return sorted(res.Values())
	}()
	store := local.DirStore(t.TempDir())
	feed := feedW1(n, 3)
	res := pipelinetest.NewResult[string]()
	clock := newTickClock(100 * time.Millisecond)
	r := local.New(local.Config{Mode: local.Stream, Workers: 2, Now: clock.Now, EpochInterval: time.Hour,
		BatchRecords: 300, BatchWait: time.Millisecond, Checkpoints: store})
	require.ErrorIs(t, r.Stop(context.Background()), local.ErrNotRunning)
	stopErr := make(chan error, 1)
	var once sync.Once
	clock.after(2*time.Second, func() {
		once.Do(func() { go func() { stopErr <- r.Stop(context.Background()) }() })
	})
	require.NoError(t, r.Run(context.Background(), checkpointedJob(feed, nil, res)))
	require.NoError(t, <-stopErr)
	require.ErrorIs(t, r.Stop(context.Background()), local.ErrNotRunning)
	before := len(res.Values())
	require.Greater(t, before, 0)
	require.Less(t, before, len(want))

	// No epoch ended before the stop (EpochInterval is an hour): the stop's checkpoint is the only one.
	list, err := local.ListCheckpoints(context.Background(), store)
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, local.CheckpointInfo{Name: "chk-0", Prefix: "chk-00000000000000000000/", Complete: true, Objects: 1}, list[0])
	m, err := local.ReadManifest(context.Background(), store, "chk-0")
	require.NoError(t, err)
	var records int64
	for _, sp := range m.Sources[0].Splits {
		records += sp.Records
	}
	require.Equal(t, r.Stats().Records, records, "the checkpoint holds the positions of everything read")
	require.NotEmpty(t, m.State)
	require.Equal(t, "Read(feed)", m.Sources[0].Kind)

	res2 := pipelinetest.NewResult[string]()
	require.NoError(t, runCheckpointed(t, checkpointedJob(feed, nil, res2), store, 3))
	require.Equal(t, want, sorted(append(res.Values(), res2.Values()...)))
}

// ReadManifest names the manifest in its errors: missing, corrupt, unknown format, bad name.
func TestReadManifestErrors(t *testing.T) {
	dir := t.TempDir()
	store := local.DirStore(dir)
	ctx := context.Background()
	put := func(name, data string) {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644))
	}
	put("chk-00000000000000000003/meta.json", "{not json")
	put("savepoint-old/meta.json", `{"format": 1, "epoch": 2}`)
	put("savepoint-old/state/x", "abc")
	put("chk-00000000000000000004/state-in-progress", "x")
	for _, tc := range []struct {
		name, want string
		is         error
	}{
		{"chk-3", "chk-00000000000000000003/meta.json: corrupt manifest", nil},
		{"savepoint-old", "savepoint-old/meta.json has format 1, this kappa reads 2", nil},
		{"chk-9", "chk-00000000000000000009/meta.json", local.ErrNoCheckpoint},
		{"savepoint-nope/", "savepoint-nope/meta.json", local.ErrNoCheckpoint},
		{"mycheckpoint", `"mycheckpoint" is not a checkpoint name`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := local.ReadManifest(ctx, store, tc.name)
			require.ErrorContains(t, err, tc.want)
			if tc.is != nil {
				require.True(t, errors.Is(err, tc.is), "%v", err)
			}
		})
	}
	list, err := local.ListCheckpoints(ctx, store)
	require.NoError(t, err)
	require.Equal(t, []local.CheckpointInfo{
		{Name: "chk-3", Prefix: "chk-00000000000000000003/", Epoch: 3, Complete: true, Objects: 1},
		{Name: "chk-4", Prefix: "chk-00000000000000000004/", Epoch: 4, Objects: 1},
		{Name: "savepoint-old", Prefix: "savepoint-old/", Savepoint: true, Complete: true, Objects: 2},
	}, list)
	// A run restoring the corrupt newest complete checkpoint fails with a RestoreError naming it.
	err = local.New(local.Config{Mode: local.Stream, Checkpoints: store}).Run(ctx, checkpointedJob(feedW1(10, 1), nil, pipelinetest.NewResult[string]()))
	require.True(t, local.IsRestoreError(err), "%v", err)
	require.ErrorContains(t, err, "chk-00000000000000000003/meta.json: corrupt manifest")
}
