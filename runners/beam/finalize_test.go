package beam_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/io/kafkaio"
	"github.com/kappaflow/kappa/io/parquetio"
	"github.com/kappaflow/kappa/io/pgio"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/beam"
	"github.com/kappaflow/kappa/transforms"
)

// stagedFiles is a sink that writes each prepared bundle to a hidden staged file and publishes it on Commit by
// renaming it (idempotent): the shape of a file sink that is exactly-once when committed in bundle finalization.
type stagedFiles struct {
	dir string

	mu      sync.Mutex
	commits int
	outside int // commits that did not run in Beam's bundle finalization
	stack   string
}

func (f *stagedFiles) Name() string { return "staged://" + f.dir }

func (f *stagedFiles) CommitsOnBundleFinalization() bool { return true }

func (f *stagedFiles) Open(_ context.Context, sh pipeline.Shard) (pipeline.SinkWriter[string], error) {
	return &stagedWriter{f: f, shard: sh.Index}, nil
}

type stagedWriter struct {
	f     *stagedFiles
	shard int
	buf   []string
}

type stagedToken struct{ Staged, Final string }

func (w *stagedWriter) Write(_ context.Context, es []pipeline.Element[string]) error {
	for _, e := range es {
		w.buf = append(w.buf, e.Value)
	}
	return nil
}

func (w *stagedWriter) Prepare(_ context.Context, e pipeline.Epoch) ([]byte, error) {
	if len(w.buf) == 0 {
		return nil, nil
	}
	name := fmt.Sprintf("part-%d-%d.txt", w.shard, e.ID)
	tok := stagedToken{Staged: filepath.Join(w.f.dir, "."+name+".staged"), Final: filepath.Join(w.f.dir, name)}
	if err := os.WriteFile(tok.Staged, []byte(strings.Join(w.buf, "\n")+"\n"), 0o644); err != nil {
		return nil, err
	}
	w.buf = nil
	return json.Marshal(tok)
}

func (w *stagedWriter) Commit(_ context.Context, raw []byte) error {
	if raw == nil {
		return nil
	}
	var tok stagedToken
	if err := json.Unmarshal(raw, &tok); err != nil {
		return err
	}
	stack := make([]byte, 64<<10)
	stack = stack[:runtime.Stack(stack, false)]
	w.f.mu.Lock()
	w.f.commits++
	// Beam's harness runs finalization callbacks from its plan's Finalize, on the runner's FinalizeBundle request.
	if !strings.Contains(string(stack), "exec.(*Plan).Finalize") {
		w.f.outside++
		w.f.stack = string(stack)
	}
	w.f.mu.Unlock()
	err := os.Rename(tok.Staged, tok.Final)
	if errors.Is(err, os.ErrNotExist) {
		if _, serr := os.Stat(tok.Final); serr == nil {
			return nil // committed before
		}
	}
	return err
}

func (w *stagedWriter) Close(context.Context) error { return nil }

// A sink that commits in bundle finalization (beam.FinalizedSink) is accepted; each bundle's output is prepared
// (staged) at the end of the bundle and committed only in Beam's bundle-finalization callback, after the runner
// persisted the bundle: every count is published once, nothing stays staged, and no commit ran inside the bundle.
func TestFinalizedSinkCommitsInBundleFinalization(t *testing.T) {
	sink := &stagedFiles{dir: t.TempDir()}
	p := pipeline.New()
	s := p.Root()
	words := transforms.FlatMap(s, pipelinetest.Create(s, "a b", "a c", "b a", "d"), strings.Fields)
	lines := transforms.Map(s, transforms.Count(s, words), func(kv transforms.KV[string, int64]) string {
		return fmt.Sprintf("%s=%d", kv.Key, kv.Value)
	})
	pipeline.Write(s, lines, pipeline.Sink[string](sink))
	require.NoError(t, beam.Validate(p))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	require.NoError(t, beam.New(beam.Config{}).Run(ctx, p))

	ents, err := os.ReadDir(sink.dir)
	require.NoError(t, err)
	var got []string
	for _, e := range ents {
		require.False(t, strings.HasSuffix(e.Name(), ".staged"), "left staged: %s", e.Name())
		b, err := os.ReadFile(filepath.Join(sink.dir, e.Name()))
		require.NoError(t, err)
		got = append(got, strings.Fields(string(b))...)
	}
	slices.Sort(got)
	require.Equal(t, []string{"a=3", "b=2", "c=1", "d=1"}, got)
	require.Positive(t, sink.commits)
	require.Zero(t, sink.outside, "commits must run in bundle finalization, not at the end of the bundle: %s", sink.stack)
}

// The Beam runner supports finalized sinks only in stages it can give Beam's bundle finalizer to; after a stateful
// ParDo the run is refused before submission, naming the sink.
func TestFinalizedSinkAfterStatefulParDoRefused(t *testing.T) {
	p := pipeline.New()
	s := p.Root()
	in := pipelinetest.Create(s, transforms.Pair("a", 1))
	out := transforms.StatefulParDo(s, in, transforms.StatefulFuncs[string, int, string]{
		Process: func(_ context.Context, sc *transforms.StateContext[string], e pipeline.Element[int], emit transforms.Emitter[string]) error {
			emit.Emit(sc.Key())
			return nil
		}})
	pipeline.Write(s, out, pipeline.Sink[string](&stagedFiles{dir: t.TempDir()}))
	err := beam.New(beam.Config{}).Run(context.Background(), p)
	require.ErrorContains(t, err, "commits in bundle finalization")
	require.ErrorContains(t, err, "stateful ParDo")
}

// Likewise in the stage that starts at a ParDo with side inputs.
func TestFinalizedSinkAfterSideInputParDoRefused(t *testing.T) {
	p := pipeline.New()
	s := p.Root()
	names := transforms.AsMap(s, pipelinetest.Create(s, transforms.Pair("a", "Alpha")))
	out := transforms.MapWithSide(s, pipelinetest.Create(s, "a"), func(k string, side transforms.Side) string {
		v, _ := names.Lookup(side, k)
		return v
	}, names)
	pipeline.Write(s, out, pipeline.Sink[string](&stagedFiles{dir: t.TempDir()}))
	err := beam.New(beam.Config{}).Run(context.Background(), p)
	require.ErrorContains(t, err, "commits in bundle finalization")
	require.ErrorContains(t, err, "a ParDo with side inputs")
}

type parquetRow struct {
	K string `parquet:"k"`
}

// The sinks that cannot keep exactly-once per Beam bundle are refused before submission, each naming the sink and
// what to do: io/parquetio with folder markers (they need the epoch's watermark and Final flag; the problem names
// WriteConfig.SuccessMarker) and kafkaio's transactional sink (one open transaction per producer: a prepared
// bundle waiting for finalization would block the next). parquetio without markers and io/pgio commit in bundle
// finalization and pass (runners/beam/connectors_test.go runs them).
func TestEpochSinksRefused(t *testing.T) {
	tests := []struct {
		name, sink, says string
		write            func(s pipeline.Scope, col pipeline.PCollection[parquetRow])
	}{
		{"parquetio with markers", "Write", `set WriteConfig.SuccessMarker to "-"`, func(s pipeline.Scope, col pipeline.PCollection[parquetRow]) {
			parquetio.Write(s, col, parquetio.WriteConfig[parquetRow]{URL: t.TempDir()})
		}},
		{"kafkaio exactly-once", "Write", "bundle finalization", func(s pipeline.Scope, col pipeline.PCollection[parquetRow]) {
			kafkaio.Write(s, col, kafkaio.WriteConfig[parquetRow]{Brokers: []string{"127.0.0.1:1"}, Topic: "out", ExactlyOnce: true, TransactionalID: "job"})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pipeline.New()
			s := p.Root()
			tt.write(s, pipelinetest.Create(s, parquetRow{K: "a"}))
			require.NoError(t, p.Err())
			err := beam.Validate(p)
			var ve *beam.ValidationError
			require.ErrorAs(t, err, &ve)
			require.Len(t, ve.Problems, 1, err.Error())
			require.Equal(t, beam.FeatureEpochSink, ve.Problems[0].Feature)
			require.Contains(t, ve.Problems[0].Transform, tt.sink)
			require.Contains(t, err.Error(), "bundle finalization")
			require.Contains(t, ve.Problems[0].Instead, tt.says)
		})
	}
	t.Run("accepted", func(t *testing.T) {
		p := pipeline.New()
		s := p.Root()
		col := pipelinetest.Create(s, parquetRow{K: "a"})
		parquetio.Write(s, col, parquetio.WriteConfig[parquetRow]{URL: t.TempDir(), SuccessMarker: "-"})
		pgio.Write(s, col, pgio.Config[parquetRow]{DSN: "postgres://127.0.0.1:1/none", Table: "rows", Key: []string{"k"},
			Columns: []string{"k"}, Row: func(r parquetRow) ([]any, error) { return []any{r.K}, nil }})
		require.NoError(t, p.Err())
		require.NoError(t, beam.Validate(p))
	})
}
