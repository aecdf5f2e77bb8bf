package local

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ReadManifest reads and decodes the manifest of the checkpoint or savepoint called name in st: "chk-<epoch>"
// (as ListCheckpoints names it; the zero-padded directory name works too) or "savepoint-<name>", with or without
// a trailing slash. A missing manifest wraps ErrNoCheckpoint; a corrupt one or one of an unknown format is an
// error naming the manifest object.
func ReadManifest(ctx context.Context, st CheckpointStore, name string) (*Manifest, error) {
	prefix, err := checkpointPrefixOf(name)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(prefix, checkpointPrefix) {
		// "chk-7" names the directory chk-00000000000000000007/.
		if n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(prefix, checkpointPrefix), "/"), 10, 64); err == nil {
			prefix = checkpointName(n)
		}
	}
	return readManifest(ctx, st, prefix)
}

func checkpointPrefixOf(name string) (string, error) {
	name = strings.TrimSuffix(strings.TrimSuffix(name, manifestName), "/")
	switch {
	case strings.HasPrefix(name, checkpointPrefix) && len(name) > len(checkpointPrefix),
		strings.HasPrefix(name, savepointPrefix) && len(name) > len(savepointPrefix):
		if strings.Contains(name, "/") {
			return "", fmt.Errorf("kappa: %q is not a checkpoint name: want chk-<epoch> or savepoint-<name>", name)
		}
		return name + "/", nil
	}
	return "", fmt.Errorf("kappa: %q is not a checkpoint name: want chk-<epoch> or savepoint-<name>", name)
}

// CheckpointInfo describes a checkpoint or savepoint found in a store by ListCheckpoints.
type CheckpointInfo struct {
	// Name is "chk-<epoch>" (the epoch without padding) or "savepoint-<name>"; pass it to ReadManifest or, as
	// Config.StartFrom, to start a run from it (a savepoint by its name without the prefix).
	Name string
	// Prefix is the checkpoint's directory in the store, e.g. "chk-00000000000000000007/".
	Prefix string
	// Savepoint reports a savepoint (never deleted by the runner).
	Savepoint bool
	// Epoch is the epoch of a checkpoint, from its name (savepoints: 0; read the manifest).
	Epoch uint64
	// Complete reports whether the manifest exists: a checkpoint without one is being written, or was abandoned
	// by a crash, and is never restored.
	Complete bool
	// Objects counts the objects under Prefix (a savepoint's state objects included).
	Objects int
}

// ListCheckpoints lists the checkpoints (oldest first) and then the savepoints (by name) in st, complete or not.
// The newest complete checkpoint is the one a run restores unless Config.StartFrom names another.
func ListCheckpoints(ctx context.Context, st CheckpointStore) ([]CheckpointInfo, error) {
	var out []CheckpointInfo
	for _, kind := range []string{checkpointPrefix, savepointPrefix} {
		names, err := st.List(ctx, kind)
		if err != nil {
			return nil, fmt.Errorf("kappa: list %s*: %w", kind, err)
		}
		byPrefix := map[string]*CheckpointInfo{}
		var order []string
		for _, n := range names {
			i := strings.IndexByte(n, '/')
			if i < 0 {
				continue
			}
			p := n[:i+1]
			ci := byPrefix[p]
			if ci == nil {
				dir := n[:i]
				ci = &CheckpointInfo{Name: dir, Prefix: p, Savepoint: kind == savepointPrefix}
				if kind == checkpointPrefix {
					e, err := strconv.ParseUint(strings.TrimPrefix(dir, checkpointPrefix), 10, 64)
					if err != nil {
						continue // not the runner's
					}
					ci.Epoch, ci.Name = e, checkpointPrefix+strconv.FormatUint(e, 10)
				}
				byPrefix[p] = ci
				order = append(order, p)
			}
			ci.Objects++
			if n == p+manifestName {
				ci.Complete = true
			}
		}
		slices.Sort(order)
		for _, p := range order {
			out = append(out, *byPrefix[p])
		}
	}
	return out, nil
}

// RestoreError is the error of a run that could not restore its checkpoint or savepoint (Config.StartFrom):
// missing, corrupt, of an unknown format, or refused by the pipeline (state it would drop, changed state types).
// Nothing was read. Its message is the underlying error's.
type RestoreError struct {
	// Err is the reason.
	Err error
}

func (e *RestoreError) Error() string { return e.Err.Error() }

// Unwrap returns Err.
func (e *RestoreError) Unwrap() error { return e.Err }

// IsRestoreError reports whether err (or an error it wraps) is a RestoreError.
func IsRestoreError(err error) bool {
	var re *RestoreError
	return errors.As(err, &re)
}
