package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kappaflow/kappa/internal/exec"
	"github.com/kappaflow/kappa/pipeline"
)

// CheckpointStore holds checkpoint objects: a local directory (DirStore) or an object store (see
// io/objstore.CheckpointStore for S3). Put must be atomic: a reader sees the whole object or none of it.
type CheckpointStore interface {
	Put(ctx context.Context, name string, data []byte) error
	Get(ctx context.Context, name string) ([]byte, error)
	// List returns the names of the objects whose names start with prefix.
	List(ctx context.Context, prefix string) ([]string, error)
	Delete(ctx context.Context, name string) error
}

// ErrNoCheckpoint is returned by a store's Get for a missing object (wrapped), and by Run when StartFrom names a
// savepoint that does not exist.
var ErrNoCheckpoint = errors.New("kappa: no such checkpoint")

// A checkpoint is a set of objects under one prefix — chk-<epoch>/ for periodic checkpoints, savepoint-<name>/
// for savepoints — written in this order: the state of every keyed operator, one object per worker, then
// meta.json, the manifest. A checkpoint exists once its manifest does; readers ignore prefixes without one.
const (
	checkpointPrefix = "chk-"
	savepointPrefix  = "savepoint-"
	manifestName     = "meta.json"
	formatVersion    = 1
)

type checkpointMeta struct {
	Format   int          `json:"format"`
	Epoch    uint64       `json:"epoch"`
	Created  time.Time    `json:"created"`
	Mode     string       `json:"mode"`
	Workers  int          `json:"workers"`
	Pipeline []string     `json:"pipeline"`
	Sources  []sourceMeta `json:"sources"`
	Sinks    []sinkMeta   `json:"sinks"`
	State    []stateMeta  `json:"state"`
}

type sourceMeta struct {
	Transform string        `json:"transform"`
	Watermark pipeline.Time `json:"watermark"`
	Splits    []splitMeta   `json:"splits"`
}

type splitMeta struct {
	ID      string        `json:"id"`
	Parents []string      `json:"parents,omitempty"`
	Size    int64         `json:"size,omitempty"`
	Pos     []byte        `json:"pos,omitempty"`
	MaxSeen pipeline.Time `json:"max_seen"`
	Seen    bool          `json:"seen,omitempty"`
	Hint    pipeline.Time `json:"hint"`
	Done    bool          `json:"done,omitempty"`
	Records int64         `json:"records"`
	Bytes   int64         `json:"bytes"`
}

type sinkMeta struct {
	Transform string   `json:"transform"`
	Tokens    [][]byte `json:"tokens"`
}

type stateMeta struct {
	Transform string   `json:"transform"`
	Objects   []string `json:"objects"`
}

// fingerprint describes the pipeline's shape: a checkpoint only restores into the same shape.
func fingerprint(p *pipeline.Pipeline) []string {
	var out []string
	for _, t := range p.Transforms() {
		line := t.Name() + " " + opName(t.Op())
		for _, c := range t.Outputs() {
			line += " -> " + c.TypeName()
		}
		out = append(out, line)
	}
	return out
}

func opName(op any) string {
	if s, ok := op.(fmt.Stringer); ok {
		return s.String()
	}
	return fmt.Sprintf("%T", op)
}

func compatible(old, cur []string) error {
	for i := range max(len(old), len(cur)) {
		var o, c string
		if i < len(old) {
			o = old[i]
		}
		if i < len(cur) {
			c = cur[i]
		}
		if o != c {
			return fmt.Errorf("transform %d differs: checkpoint has %q, pipeline has %q", i, o, c)
		}
	}
	return nil
}

// writeCheckpoint writes the state of the run after a micro-batch, with the sinks' prepared tokens, under prefix,
// and returns the bytes written.
func (ru *run) writeCheckpoint(ctx context.Context, prefix string, tokens [][][]byte) (int64, error) {
	st := ru.cfg.Checkpoints
	meta := checkpointMeta{Format: formatVersion, Epoch: ru.epoch, Created: time.Now().UTC(), Mode: ru.cfg.Mode.String(),
		Workers: len(ru.workers), Pipeline: fingerprint(ru.p)}
	for _, s := range ru.sources {
		sm := sourceMeta{Transform: s.t.Name(), Watermark: s.wm}
		for _, sp := range s.splits {
			sm.Splits = append(sm.Splits, splitMeta{ID: sp.s.ID, Parents: sp.s.Parents, Size: sp.s.Size, Pos: sp.pos,
				MaxSeen: sp.maxSeen, Seen: sp.seen, Hint: sp.hint, Done: sp.done, Records: sp.records, Bytes: sp.bytes})
		}
		meta.Sources = append(meta.Sources, sm)
	}
	for i, s := range ru.sinks {
		sm := sinkMeta{Transform: s.t.Name()}
		for w := range ru.workers {
			sm.Tokens = append(sm.Tokens, tokens[w][i])
		}
		meta.Sinks = append(meta.Sinks, sm)
	}
	var size int64
	// Snapshot keyed state, in parallel over workers.
	blobs := make([][][]byte, len(ru.workers))
	if err := ru.parallel(func(w *exec.Worker) error {
		blobs[w.Index] = make([][]byte, len(ru.keyed))
		for i, k := range ru.keyed {
			s, ok := k.cons[w.Index].(exec.Snapshotter)
			if !ok {
				continue
			}
			var b bytes.Buffer
			if err := s.Snapshot(&b); err != nil {
				return err
			}
			blobs[w.Index][i] = b.Bytes()
		}
		return nil
	}); err != nil {
		return 0, fmt.Errorf("kappa: checkpoint %d: %w", ru.epoch, err)
	}
	for i, k := range ru.keyed {
		if _, ok := k.cons[0].(exec.Snapshotter); !ok {
			return 0, fmt.Errorf("kappa: checkpoint: %s cannot be checkpointed (%T has no snapshot)", k.t.Name(), k.cons[0])
		}
		sm := stateMeta{Transform: k.t.Name()}
		for w := range ru.workers {
			name := fmt.Sprintf("%sstate-%03d-%03d", prefix, k.t.ID(), w)
			if err := st.Put(ctx, name, blobs[w][i]); err != nil {
				return 0, fmt.Errorf("kappa: checkpoint %d: put %s: %w", ru.epoch, name, err)
			}
			sm.Objects = append(sm.Objects, name)
			size += int64(len(blobs[w][i]))
		}
		meta.State = append(meta.State, sm)
	}
	ru.hook("state-written")
	b, err := json.MarshalIndent(meta, "", " ")
	if err != nil {
		return 0, fmt.Errorf("kappa: checkpoint %d: %w", ru.epoch, err)
	}
	if err := st.Put(ctx, prefix+manifestName, b); err != nil {
		return 0, fmt.Errorf("kappa: checkpoint %d: put manifest: %w", ru.epoch, err)
	}
	return size + int64(len(b)), nil
}

func checkpointName(epoch uint64) string { return fmt.Sprintf("%s%020d/", checkpointPrefix, epoch) }

// latestCheckpoint returns the prefix of the newest complete checkpoint, "" when none.
func latestCheckpoint(ctx context.Context, st CheckpointStore) (string, []string, error) {
	names, err := st.List(ctx, checkpointPrefix)
	if err != nil {
		return "", nil, fmt.Errorf("kappa: list checkpoints: %w", err)
	}
	var complete []string
	for _, n := range names {
		if strings.HasSuffix(n, "/"+manifestName) {
			complete = append(complete, strings.TrimSuffix(n, manifestName))
		}
	}
	slices.Sort(complete)
	if len(complete) == 0 {
		return "", names, nil
	}
	return complete[len(complete)-1], names, nil
}

// restore loads the newest checkpoint (or the configured savepoint) into the planned run: source positions and
// watermarks, keyed state, and the sinks' tokens of that epoch, which are committed again (idempotently).
func (ru *run) restore(ctx context.Context) error {
	st := ru.cfg.Checkpoints
	if st == nil {
		return nil
	}
	prefix := ""
	if ru.cfg.StartFrom != "" {
		prefix = savepointPrefix + ru.cfg.StartFrom + "/"
	} else {
		p, _, err := latestCheckpoint(ctx, st)
		if err != nil {
			return err
		}
		prefix = p
	}
	if prefix == "" {
		ru.cfg.Logger.Info("kappa: no checkpoint to restore; starting from the beginning")
		return nil
	}
	b, err := st.Get(ctx, prefix+manifestName)
	if err != nil {
		if ru.cfg.StartFrom != "" {
			return fmt.Errorf("%w: savepoint %q: %w", ErrNoCheckpoint, ru.cfg.StartFrom, err)
		}
		return fmt.Errorf("kappa: read checkpoint %s: %w", prefix, err)
	}
	var meta checkpointMeta
	if err := json.Unmarshal(b, &meta); err != nil {
		return fmt.Errorf("kappa: checkpoint %s: corrupt manifest: %w", prefix, err)
	}
	if meta.Format != formatVersion {
		return fmt.Errorf("kappa: checkpoint %s has format %d, this kappa reads %d", prefix, meta.Format, formatVersion)
	}
	if err := compatible(meta.Pipeline, fingerprint(ru.p)); err != nil {
		return fmt.Errorf("kappa: checkpoint %s was written by a different pipeline: %w (start from an empty checkpoint location or restore the pipeline)", prefix, err)
	}
	now := ru.cfg.Now()
	for _, sm := range meta.Sources {
		s := ru.sourceNamed(sm.Transform)
		if s == nil {
			return fmt.Errorf("kappa: checkpoint %s: no source %s in the pipeline", prefix, sm.Transform)
		}
		s.wm = sm.Watermark
		for _, m := range sm.Splits {
			sp := s.add(pipeline.Split{ID: m.ID, Parents: m.Parents, Size: m.Size}, now)
			sp.pos, sp.maxSeen, sp.seen, sp.hint, sp.done, sp.records, sp.bytes = m.Pos, m.MaxSeen, m.Seen, m.Hint, m.Done, m.Records, m.Bytes
			if m.Seen {
				sp.est.Observe(m.MaxSeen)
			}
		}
		s.records, s.bytes = 0, 0
		for _, sp := range s.splits {
			s.records += sp.records
			s.bytes += sp.bytes
		}
	}
	for _, sm := range meta.State {
		k := ru.keyedNamed(sm.Transform)
		if k == nil {
			return fmt.Errorf("kappa: checkpoint %s: no keyed transform %s in the pipeline", prefix, sm.Transform)
		}
		r, ok := k.ex.(exec.Restorer)
		if !ok {
			return fmt.Errorf("kappa: checkpoint %s: %s cannot be restored", prefix, sm.Transform)
		}
		var readers []io.Reader
		for _, name := range sm.Objects {
			blob, err := st.Get(ctx, name)
			if err != nil {
				return fmt.Errorf("kappa: checkpoint %s: read %s: %w", prefix, name, err)
			}
			readers = append(readers, bytes.NewReader(blob))
		}
		if err := r.Restore(readers); err != nil {
			return fmt.Errorf("kappa: checkpoint %s: %w", prefix, err)
		}
	}
	for _, sm := range meta.Sinks {
		s := ru.sinkNamed(sm.Transform)
		if s == nil {
			return fmt.Errorf("kappa: checkpoint %s: no sink %s in the pipeline", prefix, sm.Transform)
		}
		for i, tok := range sm.Tokens {
			if err := s.runners[i%len(s.runners)].Commit(ctx, tok); err != nil {
				return fmt.Errorf("kappa: checkpoint %s: re-commit %s: %w", prefix, sm.Transform, err)
			}
		}
	}
	for _, s := range ru.sources {
		if err := s.ack(ctx); err != nil {
			return err
		}
	}
	ru.epoch = meta.Epoch + 1
	ru.restoredFrom = prefix
	ru.cfg.Logger.Info("kappa: restored checkpoint", "checkpoint", prefix, "epoch", meta.Epoch)
	return nil
}

func (ru *run) sourceNamed(name string) *source {
	for _, s := range ru.sources {
		if s.t.Name() == name {
			return s
		}
	}
	return nil
}

func (ru *run) keyedNamed(name string) *keyedNode {
	for _, k := range ru.keyed {
		if k.t.Name() == name {
			return k
		}
	}
	return nil
}

func (ru *run) sinkNamed(name string) *sinkNode {
	for _, s := range ru.sinks {
		if s.t.Name() == name {
			return s
		}
	}
	return nil
}

// collectCheckpoints deletes all but the newest Keep complete checkpoints, and incomplete ones older than the
// newest complete one. Savepoints are never deleted.
func (ru *run) collectCheckpoints(ctx context.Context) error {
	st := ru.cfg.Checkpoints
	latest, names, err := latestCheckpoint(ctx, st)
	if err != nil || latest == "" {
		return err
	}
	byPrefix := map[string][]string{}
	complete := map[string]bool{}
	for _, n := range names {
		i := strings.IndexByte(n, '/')
		if i < 0 {
			continue
		}
		p := n[:i+1]
		byPrefix[p] = append(byPrefix[p], n)
		if n == p+manifestName {
			complete[p] = true
		}
	}
	var done []string
	for p := range complete {
		done = append(done, p)
	}
	slices.Sort(done)
	keep := map[string]bool{}
	for _, p := range done[max(0, len(done)-ru.cfg.KeepCheckpoints):] {
		keep[p] = true
	}
	for p, objs := range byPrefix {
		if keep[p] || (!complete[p] && p > latest) {
			continue // kept, or being written
		}
		// Delete the manifest first so that a half-deleted checkpoint is never taken for a complete one.
		slices.SortFunc(objs, func(a, b string) int {
			return boolInt(!strings.HasSuffix(a, manifestName)) - boolInt(!strings.HasSuffix(b, manifestName))
		})
		for _, o := range objs {
			if err := st.Delete(ctx, o); err != nil {
				return fmt.Errorf("kappa: delete old checkpoint object %s: %w", o, err)
			}
		}
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// DirStore returns a CheckpointStore over a local directory. Objects are files; Put writes a temporary file,
// syncs it and renames it into place, so a crash never leaves a partial object.
func DirStore(dir string) CheckpointStore { return dirStore{dir: dir} }

type dirStore struct{ dir string }

func (d dirStore) path(name string) string { return filepath.Join(d.dir, filepath.FromSlash(name)) }

func (d dirStore) Put(_ context.Context, name string, data []byte) error {
	p := d.path(name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-"+filepath.Base(p)+"-*")
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), p); err != nil {
		os.Remove(f.Name())
		return err
	}
	if dirf, err := os.Open(filepath.Dir(p)); err == nil {
		_ = dirf.Sync()
		dirf.Close()
	}
	return nil
}

func (d dirStore) Get(_ context.Context, name string) ([]byte, error) {
	b, err := os.ReadFile(d.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNoCheckpoint, name)
	}
	return b, err
}

func (d dirStore) List(_ context.Context, prefix string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(d.dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if e.IsDir() || strings.HasPrefix(e.Name(), ".tmp-") {
			return nil
		}
		rel, err := filepath.Rel(d.dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if strings.HasPrefix(rel, prefix) {
			out = append(out, rel)
		}
		return nil
	})
	slices.Sort(out)
	return out, err
}

func (d dirStore) Delete(_ context.Context, name string) error {
	err := os.Remove(d.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	// Remove the checkpoint's directory once empty.
	_ = os.Remove(filepath.Dir(d.path(name)))
	return err
}

var _ = path.Join
var _ = strconv.Itoa
