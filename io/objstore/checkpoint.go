package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// CheckpointStore keeps a runner's checkpoints under a URL (a local folder or s3://bucket/prefix/). It has the
// method set of runners/local.CheckpointStore: pass it as local.Config.Checkpoints. Every Put is atomic (local:
// temporary file and rename; S3: PutObject).
type CheckpointStore struct {
	store  Store
	prefix string
}

// NewCheckpointStore returns a checkpoint store under rawURL.
func NewCheckpointStore(ctx context.Context, rawURL string, cfg Config) (*CheckpointStore, error) {
	s, key, err := Open(ctx, rawURL, cfg)
	if err != nil {
		return nil, err
	}
	if key != "" && !strings.HasSuffix(key, "/") {
		key += "/"
	}
	return &CheckpointStore{store: s, prefix: key}, nil
}

// Put writes an object atomically.
func (c *CheckpointStore) Put(ctx context.Context, name string, data []byte) error {
	return c.store.Put(ctx, c.prefix+name, data)
}

// Get reads a whole object; the error wraps ErrNotExist when there is none.
func (c *CheckpointStore) Get(ctx context.Context, name string) ([]byte, error) {
	r, err := c.store.Open(ctx, c.prefix+name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b := make([]byte, r.Size())
	if _, err := r.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read %s: %w", c.store.URL(c.prefix+name), err)
	}
	return b, nil
}

// List returns the names (relative to the store's URL) starting with prefix.
func (c *CheckpointStore) List(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	for obj, err := range c.store.List(ctx, c.prefix+prefix, ListOptions{}) {
		if err != nil {
			return nil, err
		}
		name := strings.TrimPrefix(obj.Key, c.prefix)
		if i := strings.LastIndexByte(name, '/'); strings.HasPrefix(name[i+1:], ".") {
			continue // temporary files of the local store
		}
		out = append(out, name)
	}
	return out, nil
}

// Delete removes an object.
func (c *CheckpointStore) Delete(ctx context.Context, name string) error {
	return c.store.Delete(ctx, c.prefix+name)
}
