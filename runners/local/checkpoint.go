package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
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

// A checkpoint is a set of objects: its manifest, chk-<epoch>/meta.json (savepoints: savepoint-<name>/meta.json),
// and the state snapshots it lists. A checkpoint exists once its manifest does; readers ignore prefixes without
// one, and objects no manifest lists are garbage.
//
// Keyed state is incremental: per keyed transform and worker, a chain of snapshots — a full one, then deltas
// holding only what changed in each epoch (see internal/engine/snapshot.go) — stored under state/ and shared by
// the checkpoints whose chains include them. A checkpoint therefore uploads what changed since the previous one.
// A chain restarts with a full snapshot every Config.FullCheckpointEvery checkpoints, when its deltas have grown
// past the size of its full snapshot (so a restore reads at most about twice the state), and after a restore
// (keys are shuffled by a hash seeded per process: after a restart a worker owns other keys). Savepoints are
// self-contained: full snapshots under their own prefix.
//
// State is mapped by the keyed transform's name (its uid) and its state types, not by the shape of the whole
// graph, so a job can be upgraded and keep its state (see restore and docs/operations.md).
const (
	checkpointPrefix = "chk-"
	savepointPrefix  = "savepoint-"
	statePrefix      = "state/"
	manifestName     = "meta.json"
	// formatVersion is the manifest format this kappa writes: 3 since snapshots encode state with the coder
	// package (engine.SnapshotFormat). Format 2 checkpoints and savepoints (gob snapshots) are still restored.
	formatVersion = 3
	// oldestFormat is the oldest manifest format this kappa restores.
	oldestFormat = 2
)

// Manifest is a checkpoint's or savepoint's manifest, the JSON object meta.json under its prefix: what a restore
// reads first. ReadManifest decodes it; tools such as cmd/kappa print it.
type Manifest struct {
	// Format is the manifest's format version: 3 (state encoded with the coder package); this kappa also reads
	// version 2 (state encoded with gob).
	Format int `json:"format"`
	// Epoch is the epoch the checkpoint ends: a run restored from it starts at Epoch+1.
	Epoch uint64 `json:"epoch"`
	// Created is when the manifest was written (UTC).
	Created time.Time `json:"created"`
	// Mode is the run's mode, "batch" or "stream".
	Mode string `json:"mode"`
	// Workers is the run's worker count (a restore may use another).
	Workers int `json:"workers"`
	// Pipeline describes the pipeline's shape, a line per transform ("name op -> output type"), for people:
	// restores match state by transform name, not by this list.
	Pipeline []string `json:"pipeline"`
	// Sources holds every source's position.
	Sources []SourceManifest `json:"sources"`
	// Sinks holds every sink's commit tokens for the checkpoint's epoch (committed again on restore).
	Sinks []SinkManifest `json:"sinks"`
	// State lists the keyed state objects of every keyed transform.
	State []StateManifest `json:"state"`
}

// SourceManifest is a source's part of a manifest.
type SourceManifest struct {
	// Transform is the source's transform name (its uid).
	Transform string `json:"transform"`
	// Kind describes the source operator, e.g. "Read(kafka://127.0.0.1:9092/events)" (empty in manifests
	// written before it was recorded).
	Kind string `json:"kind,omitempty"`
	// Watermark is the source's watermark at the checkpoint.
	Watermark pipeline.Time `json:"watermark"`
	// Splits holds every known split's position.
	Splits []SplitManifest `json:"splits"`
}

// SplitManifest is a split's position and watermark state.
type SplitManifest struct {
	// ID is the split's ID (Kafka: the partition; Parquet: file and row group).
	ID string `json:"id"`
	// Parents are the splits that must end before this one starts (Kinesis resharding).
	Parents []string `json:"parents,omitempty"`
	// Size is the split's size in bytes when known (bounded sources).
	Size int64 `json:"size,omitempty"`
	// Pos is the source's opaque position: where a restored run resumes reading the split.
	Pos []byte `json:"pos,omitempty"`
	// MaxSeen is the largest event time read from the split (when Seen).
	MaxSeen pipeline.Time `json:"max_seen"`
	// Seen reports whether the split has produced a record.
	Seen bool `json:"seen,omitempty"`
	// Hint is the source's last watermark hint for the split.
	Hint pipeline.Time `json:"hint"`
	// Done reports whether the split has ended.
	Done bool `json:"done,omitempty"`
	// Records counts the records read from the split.
	Records int64 `json:"records"`
	// Bytes counts the bytes read from the split.
	Bytes int64 `json:"bytes"`
}

// SinkManifest holds a sink's commit tokens, one per worker shard.
type SinkManifest struct {
	// Transform is the sink's transform name (its uid).
	Transform string `json:"transform"`
	// Tokens are the shards' opaque commit tokens, by worker.
	Tokens [][]byte `json:"tokens"`
}

// StateManifest lists the state objects of a keyed transform.
type StateManifest struct {
	// Transform is the keyed transform's full name, its uid.
	Transform string `json:"transform"`
	// Kind is the transform kind, e.g. "CombinePerKey".
	Kind string `json:"kind"`
	// Types names the types of the state (key, accumulator …): a restore into different types needs a migration.
	Types map[string]string `json:"types,omitempty"`
	// Chains lists, per worker, the snapshot objects to apply in order: a full snapshot, then deltas.
	Chains [][]StateObject `json:"chains"`
}

// StateObject is a snapshot object of a chain.
type StateObject struct {
	// Object is the object's name in the checkpoint store.
	Object string `json:"object"`
	// Size is the object's size in bytes, checked on restore.
	Size int64 `json:"size"`
	// Full reports a full snapshot (else a delta over the chain before it).
	Full bool `json:"full,omitempty"`
}

// chains tracks, during a run, the snapshot chains of every keyed transform (by index in run.keyed) and worker.
type chains struct {
	refs  [][][]StateObject // [keyed][worker] chain
	since []int             // checkpoints since the last full snapshot, per keyed transform
}

func (ch *chains) reset(keyed, workers int) {
	ch.refs = make([][][]StateObject, keyed)
	for i := range ch.refs {
		ch.refs[i] = make([][]StateObject, workers)
	}
	ch.since = make([]int, keyed)
}

// wantFull reports whether keyed transform i's next snapshot must be full.
func (ch *chains) wantFull(i, every int) bool {
	if ch.refs == nil || len(ch.refs[i]) == 0 || len(ch.refs[i][0]) == 0 || ch.since[i] >= every {
		return true
	}
	var full, deltas int64
	for _, chain := range ch.refs[i] {
		for _, r := range chain {
			if r.Full {
				full += r.Size
			} else {
				deltas += r.Size
			}
		}
	}
	return deltas > full
}

// stateTyper is implemented by keyed operators that name the types of their state (for upgrade checks).
type stateTyper interface {
	StateTypes() map[string]string
}

func stateTypes(op any) map[string]string {
	if t, ok := op.(stateTyper); ok {
		return t.StateTypes()
	}
	return nil
}

// fingerprint describes the pipeline's shape, for people reading a manifest (restores map state by uid).
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

// stateObject names a snapshot object of a chain.
func stateObject(prefix, uid string, epoch uint64, worker int, full bool) string {
	h := fnv.New64a()
	h.Write([]byte(uid))
	kind := "delta"
	if full {
		kind = "full"
	}
	return fmt.Sprintf("%s%016x/%020d-w%03d-%s", prefix, h.Sum64(), epoch, worker, kind)
}

// writeCheckpoint writes the state of the run after a micro-batch, with the sinks' prepared tokens: a checkpoint
// (incremental chains under state/) or, when savepoint is set, a self-contained savepoint under its prefix. It
// returns the bytes written.
func (ru *run) writeCheckpoint(ctx context.Context, prefix string, tokens [][][]byte, savepoint bool) (int64, error) {
	st := ru.cfg.Checkpoints
	meta := Manifest{Format: formatVersion, Epoch: ru.epoch, Created: time.Now().UTC(), Mode: ru.cfg.Mode.String(),
		Workers: len(ru.workers), Pipeline: fingerprint(ru.p)}
	for _, s := range ru.sources {
		sm := SourceManifest{Transform: s.t.Name(), Kind: opName(s.t.Op()), Watermark: s.wm}
		for _, sp := range s.splits {
			sm.Splits = append(sm.Splits, SplitManifest{ID: sp.s.ID, Parents: sp.s.Parents, Size: sp.s.Size, Pos: sp.pos,
				MaxSeen: sp.maxSeen, Seen: sp.seen, Hint: sp.hint, Done: sp.done, Records: sp.records, Bytes: sp.bytes})
		}
		meta.Sources = append(meta.Sources, sm)
	}
	for i, s := range ru.sinks {
		sm := SinkManifest{Transform: s.t.Name()}
		for w := range ru.workers {
			sm.Tokens = append(sm.Tokens, tokens[w][i])
		}
		meta.Sinks = append(meta.Sinks, sm)
	}
	if ru.chains.refs == nil {
		ru.chains.reset(len(ru.keyed), len(ru.workers))
	}
	full := make([]bool, len(ru.keyed))
	for i, k := range ru.keyed {
		if _, ok := k.cons[0].(exec.Snapshotter); !ok {
			return 0, fmt.Errorf("kappa: checkpoint: %s cannot be checkpointed (%T has no snapshot)", k.t.Name(), k.cons[0])
		}
		full[i] = savepoint || ru.chains.wantFull(i, ru.cfg.FullCheckpointEvery)
	}
	// Snapshot keyed state, in parallel over workers. A savepoint takes full snapshots, which restart the change
	// tracking: the chains of the checkpoints restart too.
	blobs := make([][][]byte, len(ru.workers))
	wroteFull := make([][]bool, len(ru.workers))
	if err := ru.parallel(func(w *exec.Worker) error {
		blobs[w.Index] = make([][]byte, len(ru.keyed))
		wroteFull[w.Index] = make([]bool, len(ru.keyed))
		for i, k := range ru.keyed {
			var b bytes.Buffer
			f, err := k.cons[w.Index].(exec.Snapshotter).Snapshot(&b, full[i])
			if err != nil {
				return err
			}
			blobs[w.Index][i], wroteFull[w.Index][i] = b.Bytes(), f
		}
		return nil
	}); err != nil {
		return 0, fmt.Errorf("kappa: checkpoint %d: %w", ru.epoch, err)
	}
	var size int64
	objPrefix := statePrefix
	if savepoint {
		objPrefix = prefix + statePrefix
	}
	for i, k := range ru.keyed {
		sm := StateManifest{Transform: k.t.Name(), Kind: opName(k.t.Op()), Types: stateTypes(k.t.Op()),
			Chains: make([][]StateObject, len(ru.workers))}
		for w := range ru.workers {
			f := wroteFull[w][i]
			name := stateObject(objPrefix, k.t.Name(), ru.epoch, w, f)
			if err := st.Put(ctx, name, blobs[w][i]); err != nil {
				return 0, fmt.Errorf("kappa: checkpoint %d: put %s: %w", ru.epoch, name, err)
			}
			ref := StateObject{Object: name, Size: int64(len(blobs[w][i])), Full: f}
			size += ref.Size
			if savepoint {
				sm.Chains[w] = []StateObject{ref}
				continue
			}
			if f {
				ru.chains.refs[i][w] = nil // this worker's chain restarts (a consumer may write full on its own)
			}
			ru.chains.refs[i][w] = append(ru.chains.refs[i][w], ref)
			sm.Chains[w] = slices.Clone(ru.chains.refs[i][w])
		}
		if full[i] {
			ru.chains.since[i] = 0
		}
		ru.chains.since[i]++
		meta.State = append(meta.State, sm)
	}
	if savepoint {
		// The savepoint's full snapshots restarted the change tracking: the checkpoints' chains start again too.
		ru.chains.refs = nil
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

// latestCheckpoint returns the prefix of the newest complete checkpoint, "" when none, and the names of every
// checkpoint object.
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

// readManifest reads and decodes the manifest of the checkpoint or savepoint under prefix.
func readManifest(ctx context.Context, st CheckpointStore, prefix string) (*Manifest, error) {
	b, err := st.Get(ctx, prefix+manifestName)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) { // stores other than DirStore (io/objstore) report fs.ErrNotExist
			err = missingError{err}
		}
		return nil, fmt.Errorf("kappa: read checkpoint %s: %w", prefix+manifestName, err)
	}
	var meta Manifest
	if err := json.Unmarshal(b, &meta); err != nil {
		return nil, fmt.Errorf("kappa: checkpoint %s: corrupt manifest: %w", prefix+manifestName, err)
	}
	if meta.Format < oldestFormat || meta.Format > formatVersion {
		return nil, fmt.Errorf("kappa: checkpoint %s has format %d, this kappa reads %d to %d: restore it "+
			"with the kappa version that wrote it and take a savepoint there, or start without it (an empty checkpoint "+
			"location)", prefix+manifestName, meta.Format, oldestFormat, formatVersion)
	}
	return &meta, nil
}

// missingError is a store's error for a missing object: it is also ErrNoCheckpoint.
type missingError struct{ error }

func (e missingError) Is(target error) bool { return target == ErrNoCheckpoint }
func (e missingError) Unwrap() error        { return e.error }

// restore loads the newest checkpoint (or the configured savepoint) into the planned run: source positions and
// watermarks, keyed state, and the sinks' tokens of that epoch, which are committed again (idempotently).
//
// State and positions are matched by transform name (uid). Before anything is read, the restore checks that the
// pipeline can take the checkpoint: a keyed transform, source or sink of the checkpoint that the pipeline no longer
// has is refused unless Config.AllowNonRestoredState (its state is then dropped); a keyed transform whose state
// types changed is refused unless a migration (Config.Migrations) converts it. Transforms new to the pipeline
// start empty; element-wise transforms may change freely; the worker count may change.
func (ru *run) restore(ctx context.Context) error {
	st := ru.cfg.Checkpoints
	if st == nil {
		return nil
	}
	prefix := ""
	switch {
	case strings.HasPrefix(ru.cfg.StartFrom, checkpointPrefix): // a retained checkpoint, by name
		prefix = strings.TrimSuffix(ru.cfg.StartFrom, "/") + "/"
	case ru.cfg.StartFrom != "":
		prefix = savepointPrefix + ru.cfg.StartFrom + "/"
	default:
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
	meta, err := readManifest(ctx, st, prefix)
	if err != nil {
		if ru.cfg.StartFrom != "" && errors.Is(err, ErrNoCheckpoint) {
			what := "savepoint"
			if strings.HasPrefix(ru.cfg.StartFrom, checkpointPrefix) {
				what = "checkpoint"
			}
			return fmt.Errorf("%w: %s %q: %w", ErrNoCheckpoint, what, ru.cfg.StartFrom, err)
		}
		return fmt.Errorf("%w%s", err, ru.olderCheckpoints(ctx, prefix))
	}
	plan, err := ru.planRestore(prefix, meta)
	if err != nil {
		return err
	}
	now := ru.cfg.Now()
	for _, sm := range meta.Sources {
		s := ru.sourceNamed(sm.Transform)
		if s == nil {
			continue // dropped, as planRestore allowed
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
	// The chains restart with a full snapshot at the next checkpoint: keys are shuffled by a hash seeded per
	// process, so a worker of this run does not own the keys of the same worker of the checkpointed run, and a chain
	// continued across the restart would mix two owners' histories of a key.
	ru.chains.reset(len(ru.keyed), len(ru.workers))
	for _, r := range plan {
		chains, err := fetchChains(ctx, st, r.meta.Chains)
		if err != nil {
			return fmt.Errorf("kappa: checkpoint %s: %s: %w%s", prefix, r.meta.Transform, err, ru.olderCheckpoints(ctx, prefix))
		}
		if r.migration != nil {
			err = r.migration.restore(r.node.ex, chains)
		} else {
			err = r.node.ex.(exec.Restorer).Restore(chains)
		}
		if err != nil {
			return fmt.Errorf("kappa: checkpoint %s: %w%s", prefix, err, ru.olderCheckpoints(ctx, prefix))
		}
	}
	for _, sm := range meta.Sinks {
		s := ru.sinkNamed(sm.Transform)
		if s == nil {
			continue // dropped, as planRestore allowed
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
	ru.cfg.Logger.Info("kappa: restored checkpoint", "checkpoint", prefix, "epoch", meta.Epoch, "workers", meta.Workers)
	return nil
}

// olderCheckpoints tells, for an error restoring the checkpoint under prefix, which other checkpoints are
// retained and how to start from one.
func (ru *run) olderCheckpoints(ctx context.Context, prefix string) string {
	names, err := ru.cfg.Checkpoints.List(ctx, checkpointPrefix)
	if err != nil {
		return ""
	}
	var older []string
	for _, n := range names {
		if p, ok := strings.CutSuffix(n, "/"+manifestName); ok && p+"/" < prefix {
			older = append(older, p)
		}
	}
	if len(older) == 0 {
		return " (no older checkpoint is retained; start from a savepoint with Config.StartFrom, or from nothing with an empty checkpoint location)"
	}
	slices.Sort(older)
	slices.Reverse(older)
	return fmt.Sprintf(" (older retained checkpoints: %s; start from one with Config.StartFrom = %q)", strings.Join(older, ", "), older[0])
}

type restoreStep struct {
	meta      StateManifest
	node      *keyedNode
	index     int
	migration *Migration
}

// planRestore matches the checkpoint's state, sources and sinks with the pipeline and returns what to restore, or
// every reason the pipeline cannot take the checkpoint.
func (ru *run) planRestore(prefix string, meta *Manifest) ([]restoreStep, error) {
	var errs []error
	var dropped []string
	for _, sm := range meta.Sources {
		if ru.sourceNamed(sm.Transform) == nil {
			dropped = append(dropped, "source "+sm.Transform)
		}
	}
	for _, sm := range meta.Sinks {
		if ru.sinkNamed(sm.Transform) == nil {
			dropped = append(dropped, "sink "+sm.Transform+" (its last epoch's output is committed again only if it stays)")
		}
	}
	var plan []restoreStep
	for _, sm := range meta.State {
		i := ru.keyedIndex(sm.Transform)
		if i < 0 {
			dropped = append(dropped, "the state of "+sm.Transform+" ("+sm.Kind+")")
			continue
		}
		k := ru.keyed[i]
		if _, ok := k.ex.(exec.Restorer); !ok {
			errs = append(errs, fmt.Errorf("%s cannot be restored (%T)", sm.Transform, k.ex))
			continue
		}
		step := restoreStep{meta: sm, node: k, index: i}
		cur := stateTypes(k.t.Op())
		if kind := opName(k.t.Op()); kind != sm.Kind {
			errs = append(errs, fmt.Errorf("%s was a %s with state %s and is now a %s with state %s: give the new transform another name (it then starts empty) or keep the old one", sm.Transform, sm.Kind, typesString(sm.Types), kind, typesString(cur)))
			continue
		}
		if !maps.Equal(sm.Types, cur) {
			m := ru.migrationFor(sm.Transform)
			switch {
			case m == nil:
				errs = append(errs, fmt.Errorf("%s: state types changed from %s to %s: register a migration (local.MigrateAccumulator) or give the transform another name", sm.Transform, typesString(sm.Types), typesString(cur)))
				continue
			case m.from != sm.Types["accumulator"] || m.to != cur["accumulator"] || sm.Types["key"] != cur["key"]:
				errs = append(errs, fmt.Errorf("%s: the migration converts %s to %s, but the state changes from %s to %s", sm.Transform, m.from, m.to, typesString(sm.Types), typesString(cur)))
				continue
			}
			step.migration = m
		}
		plan = append(plan, step)
	}
	if len(dropped) > 0 {
		if !ru.cfg.AllowNonRestoredState {
			errs = append(errs, fmt.Errorf("the pipeline no longer has %s: set AllowNonRestoredState to drop it", strings.Join(dropped, ", ")))
		} else {
			for _, d := range dropped {
				ru.cfg.Logger.Warn("kappa: restore drops what the pipeline no longer has (AllowNonRestoredState)", "checkpoint", prefix, "dropped", d)
			}
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("kappa: cannot restore checkpoint %s into this pipeline (nothing was read): %w", prefix, errors.Join(errs...))
	}
	return plan, nil
}

func typesString(t map[string]string) string {
	if len(t) == 0 {
		return "{}"
	}
	keys := slices.Sorted(maps.Keys(t))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + t[k]
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// namedReader is a snapshot object being restored; its name appears in restore errors.
type namedReader struct {
	*bytes.Reader
	name string
}

func (r namedReader) Name() string { return r.name }

// fetchChains downloads snapshot chains, several objects at a time.
func fetchChains(ctx context.Context, st CheckpointStore, refs [][]StateObject) ([][]io.Reader, error) {
	out := make([][]io.Reader, len(refs))
	type job struct{ w, i int }
	var jobs []job
	for w, chain := range refs {
		out[w] = make([]io.Reader, len(chain))
		for i := range chain {
			jobs = append(jobs, job{w, i})
		}
	}
	errs := make([]error, len(jobs))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for n, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			name := refs[j.w][j.i].Object
			b, err := st.Get(ctx, name)
			if err != nil {
				errs[n] = fmt.Errorf("read %s: %w", name, err)
				return
			}
			if int64(len(b)) != refs[j.w][j.i].Size {
				errs[n] = fmt.Errorf("%s has %d bytes, the manifest says %d: corrupt or partial object", name, len(b), refs[j.w][j.i].Size)
				return
			}
			out[j.w][j.i] = namedReader{Reader: bytes.NewReader(b), name: name}
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

func (ru *run) sourceNamed(name string) *source {
	for _, s := range ru.sources {
		if s.t.Name() == name {
			return s
		}
	}
	return nil
}

func (ru *run) keyedIndex(name string) int {
	for i, k := range ru.keyed {
		if k.t.Name() == name {
			return i
		}
	}
	return -1
}

func (ru *run) sinkNamed(name string) *sinkNode {
	for _, s := range ru.sinks {
		if s.t.Name() == name {
			return s
		}
	}
	return nil
}

// collectCheckpoints deletes all but the newest Keep complete checkpoints, incomplete ones older than the newest
// complete one, and the state objects no remaining checkpoint lists. Savepoints are never deleted (and hold their
// own state objects).
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
	// State objects listed by no kept checkpoint. Objects of this run's chains are listed by the newest one.
	used := map[string]bool{}
	for p := range keep {
		meta, err := readManifest(ctx, st, p)
		if err != nil {
			return err
		}
		for _, sm := range meta.State {
			for _, chain := range sm.Chains {
				for _, r := range chain {
					used[r.Object] = true
				}
			}
		}
	}
	objs, err := st.List(ctx, statePrefix)
	if err != nil {
		return fmt.Errorf("kappa: list state objects: %w", err)
	}
	for _, o := range objs {
		if !used[o] {
			if err := st.Delete(ctx, o); err != nil {
				return fmt.Errorf("kappa: delete unused state object %s: %w", o, err)
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
