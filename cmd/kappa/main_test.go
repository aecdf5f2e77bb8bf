package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/testsvc/kafkatest"
	"github.com/kappaflow/kappa/internal/testsvc/s3test"
	"github.com/kappaflow/kappa/io/kafkaio"
	"github.com/kappaflow/kappa/io/objstore"
	"github.com/kappaflow/kappa/io/parquetio"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

type view struct {
	URL string `json:"url" parquet:"url"`
	N   int64  `json:"n" parquet:"n"`
}

// checkpointedJob runs a real job — Kafka (3 partitions) → per-URL counts per minute → Parquet — in stream mode
// with checkpoints in store, and takes a savepoint "v1" midway. It returns what each partition holds.
func checkpointedJob(t *testing.T, store local.CheckpointStore, out string) map[int32]int64 {
	t.Helper()
	kafka := kafkatest.Start(t, kafkatest.Topic("views", 3))
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var recs []kafkatest.Record
	for i := range 3000 {
		b, _ := json.Marshal(view{URL: fmt.Sprintf("/p%d", i%7), N: 1})
		recs = append(recs, kafkatest.Record{Partition: int32(i % 3), Value: b, Time: base.Add(time.Duration(i) * 100 * time.Millisecond)})
	}
	kafka.Produce(t, "views", recs...)
	p := pipeline.New()
	s := p.Root()
	views := kafkaio.Read(s, kafkaio.ReadConfig[view]{Brokers: kafka.Brokers, Topic: "views", Decode: kafkaio.DecodeJSON[view]},
		pipeline.OutOfOrderness(time.Second))
	byURL := transforms.KeyBy(s, windowing.Into(s, views, windowing.Fixed{Size: time.Minute}), func(v view) string { return v.URL })
	counts := transforms.CountPerKey(s.Scope("counts"), byURL)
	rows := transforms.Map(s, counts, func(kv transforms.KV[string, int64]) view { return view{URL: kv.Key, N: kv.Value} })
	parquetio.Write(s, rows, parquetio.WriteConfig[view]{URL: out})
	r := local.New(local.Config{Mode: local.Stream, Workers: 2, Checkpoints: store, EpochInterval: 50 * time.Millisecond,
		BatchRecords: 100, StopWhenIdle: time.Second})
	done := make(chan error, 1)
	go func() { done <- r.Run(context.Background(), p) }()
	for {
		err := r.Savepoint(context.Background(), "v1")
		if err == nil {
			break
		}
		require.ErrorIs(t, err, local.ErrNotRunning)
		time.Sleep(10 * time.Millisecond)
	}
	require.NoError(t, <-done)
	return kafka.EndOffsets(t, "views", false)
}

func kappa(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return stdout.String(), stderr.String(), code
}

// kappa checkpoints lists a real job's checkpoints and savepoint; kappa inspect shows epochs, transforms, state
// sizes and types, Kafka offsets per partition and sink tokens, as text and JSON; -verify reads the objects.
func TestInspectRealCheckpoints(t *testing.T) {
	dir := t.TempDir()
	chk := filepath.Join(dir, "chk")
	ends := checkpointedJob(t, local.DirStore(chk), filepath.Join(dir, "out"))

	out, stderr, code := kappa(t, "checkpoints", chk)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "NAME")
	require.Contains(t, out, "savepoint-v1")
	require.Contains(t, out, "start from it: -start-from v1")
	require.Contains(t, out, "newest: a run restores it")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.GreaterOrEqual(t, len(lines), 4, out) // title, header, ≥1 checkpoint, the savepoint

	var rows []entry
	out, _, code = kappa(t, "checkpoints", "-json", chk)
	require.Equal(t, 0, code)
	require.NoError(t, json.Unmarshal([]byte(out), &rows))
	var newest entry
	for _, e := range rows {
		if e.Newest {
			newest = e
		}
	}
	require.True(t, newest.Complete)
	require.Positive(t, newest.StateBytes)

	// The newest checkpoint: the final epoch read everything, so each partition's position is its end offset.
	out, stderr, code = kappa(t, "inspect", filepath.Join(chk, newest.Name))
	require.Equal(t, 0, code, stderr)
	for _, want := range []string{
		"checkpoint " + newest.Name, "mode stream, 2 workers", "pipeline (", "counts/CountPerKey",
		"keyed state (1 transforms", "accumulator=int64", "key=string", "WORKER", "full",
		"Read(kafka://", "SPLIT", "sinks (1):", "shard 0: epoch",
	} {
		require.Contains(t, out, want)
	}
	for p, end := range ends {
		require.Regexp(t, fmt.Sprintf(`(?m)^\s+%d\s+offset %d\s`, p, end), out)
	}

	// A bare location inspects the newest checkpoint; JSON carries the manifest and decoded positions.
	out, stderr, code = kappa(t, "inspect", "-json", "-verify", chk)
	require.Equal(t, 0, code, stderr)
	var in struct {
		Name      string
		Manifest  local.Manifest
		Positions map[string][]posInfo
		Verified  int `json:"verified_objects"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &in))
	require.Equal(t, newest.Name, in.Name)
	require.Equal(t, newest.Epoch, in.Manifest.Epoch)
	require.Len(t, in.Positions["kafkaio.Read"], 3, out)
	require.Positive(t, in.Verified)

	// The savepoint, by LOCATION NAME.
	out, stderr, code = kappa(t, "inspect", chk, "savepoint-v1")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "savepoint savepoint-v1")
	require.Contains(t, out, "-start-from v1")

	// A missing state object fails -verify, naming it.
	var victim string
	for _, s := range in.Manifest.State {
		victim = s.Chains[0][0].Object
	}
	require.NoError(t, os.Remove(filepath.Join(chk, victim)))
	_, stderr, code = kappa(t, "inspect", "-verify", chk)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, victim)
}

// A corrupt or unknown manifest is an error naming the file; the listing shows it and fails.
func TestBadManifests(t *testing.T) {
	dir := t.TempDir()
	put := func(name, data string) {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644))
	}
	put("chk-00000000000000000005/meta.json", `{"format": 2, "epoch": 5, "mode": "stream", "workers": 1}`)
	put("chk-00000000000000000006/meta.json", "{garbage")
	put("chk-00000000000000000007/state-half-written", "x")
	put("savepoint-old/meta.json", `{"format": 1}`)
	for _, tc := range []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"inspect", filepath.Join(dir, "chk-6")}, 1, []string{"chk-00000000000000000006/meta.json: corrupt manifest"}},
		{[]string{"inspect", filepath.Join(dir, "savepoint-old")}, 1, []string{"savepoint-old/meta.json has format 1, this kappa reads 2"}},
		{[]string{"inspect", filepath.Join(dir, "chk-9")}, 1, []string{"chk-00000000000000000009/meta.json", "no such"}},
		{[]string{"inspect", filepath.Join(dir, "chk-5")}, 0, nil},
		{[]string{"checkpoints", dir}, 1, []string{"corrupt manifest"}},
		{[]string{"checkpoints"}, 2, []string{"want a LOCATION"}},
		{[]string{"checkpoints", "gs://x/y"}, 2, []string{`unsupported scheme "gs"`}},
		{[]string{"frobnicate"}, 2, []string{`unknown command "frobnicate"`}},
		{[]string{"inspect", "-s3-endpoint", "nope", dir}, 2, []string{`-s3-endpoint "nope"`}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, stderr, code := kappa(t, tc.args...)
			require.Equal(t, tc.code, code, stderr)
			for _, w := range tc.want {
				require.Contains(t, stderr, w)
			}
		})
	}
	out, _, _ := kappa(t, "checkpoints", dir)
	require.Contains(t, out, "UNREADABLE")
	require.Contains(t, out, "incomplete (no manifest")
}

// kappa checkpoints and inspect read a bucket (an S3 peer on 127.0.0.1).
func TestS3Location(t *testing.T) {
	srv := s3test.Start(t)
	store, err := objstore.NewCheckpointStore(context.Background(), srv.URL("jobs/views/"), srv.Config)
	require.NoError(t, err)
	checkpointedJob(t, store, t.TempDir())
	out, stderr, code := kappa(t, "checkpoints", "-s3-endpoint", srv.Endpoint, srv.URL("jobs/views/"))
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "savepoint-v1")
	out, stderr, code = kappa(t, "inspect", "-s3-endpoint", srv.Endpoint, "-verify", srv.URL("jobs/views/savepoint-v1"))
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "verified:")
}
