package objstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// tmpMarker is part of the names of Local's temporary files; List never shows them.
const tmpMarker = ".kappa-tmp-"

// Local is a Store over the local file system, rooted at "/": the key of /data/a.parquet is "data/a.parquet".
// Folders are created as needed and never removed.
type Local struct{}

// NewLocal returns the local file system store.
func NewLocal() *Local { return &Local{} }

var _ Store = (*Local)(nil)

func localPath(key string) string { return "/" + strings.TrimPrefix(key, "/") }

// URL returns the absolute path of key.
func (l *Local) URL(key string) string { return localPath(key) }

// List walks the folders under prefix in key order (a folder "a" sorts as "a/", as S3 would list its keys). A
// missing folder lists nothing.
func (l *Local) List(ctx context.Context, prefix string, opts ListOptions) iter.Seq2[Object, error] {
	return func(yield func(Object, error) bool) {
		dir := ""
		if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
			dir = prefix[:i+1]
		}
		l.walk(ctx, dir, prefix, opts.StartAfter, yield)
	}
}

// walk lists folder dir (a key prefix ending in "/" or empty), yielding objects whose keys start with prefix and
// sort after startAfter. It returns false when the caller stopped or an error was yielded.
func (l *Local) walk(ctx context.Context, dir, prefix, startAfter string, yield func(Object, error) bool) bool {
	if err := ctx.Err(); err != nil {
		yield(Object{}, err)
		return false
	}
	entries, err := os.ReadDir(localPath(dir))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return true // S3 semantics: nothing under the prefix is an empty listing
		}
		yield(Object{}, fmt.Errorf("objstore: list %s: %w", localPath(dir), err))
		return false
	}
	type entry struct {
		name string // with a trailing "/" for folders
		info fs.FileInfo
	}
	list := make([]entry, 0, len(entries))
	for _, e := range entries {
		name := e.Name()
		if strings.Contains(name, tmpMarker) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) { // removed while listing
				continue
			}
			yield(Object{}, fmt.Errorf("objstore: list %s: %w", localPath(dir+name), err))
			return false
		}
		if info.Mode()&fs.ModeSymlink != 0 {
			if info, err = os.Stat(localPath(dir + name)); err != nil {
				continue // dangling link
			}
		}
		if info.IsDir() {
			name += "/"
		} else if !info.Mode().IsRegular() {
			continue
		}
		list = append(list, entry{name, info})
	}
	slices.SortFunc(list, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	for _, e := range list {
		key := dir + e.name
		// Skip entries that cannot hold a key matching prefix or sorting after startAfter.
		if !strings.HasPrefix(key, prefix) && !strings.HasPrefix(prefix, key) {
			continue
		}
		if strings.HasSuffix(e.name, "/") {
			if startAfter != "" && key < startAfter && !strings.HasPrefix(startAfter, key) {
				continue
			}
			if !l.walk(ctx, key, prefix, startAfter, yield) {
				return false
			}
			continue
		}
		if !strings.HasPrefix(key, prefix) || key <= startAfter {
			continue
		}
		if !yield(Object{Key: key, Size: e.info.Size(), ModTime: e.info.ModTime()}, nil) {
			return false
		}
	}
	return true
}

// Stat describes the file at key.
func (l *Local) Stat(_ context.Context, key string) (Object, error) {
	info, err := os.Stat(localPath(key))
	if err != nil {
		return Object{}, fmt.Errorf("objstore: stat %s: %w", localPath(key), err)
	}
	if info.IsDir() {
		return Object{}, fmt.Errorf("objstore: stat %s: is a folder: %w", localPath(key), ErrNotExist)
	}
	return Object{Key: key, Size: info.Size(), ModTime: info.ModTime()}, nil
}

type localReader struct {
	*os.File
	size int64
}

func (r localReader) Size() int64 { return r.size }

// Open opens the file at key.
func (l *Local) Open(_ context.Context, key string) (Reader, error) {
	f, err := os.Open(localPath(key))
	if err != nil {
		return nil, fmt.Errorf("objstore: open %s: %w", localPath(key), err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("objstore: open %s: %w", localPath(key), err)
	}
	if info.IsDir() {
		f.Close()
		return nil, fmt.Errorf("objstore: open %s: is a folder: %w", localPath(key), ErrNotExist)
	}
	return localReader{File: f, size: info.Size()}, nil
}

type localWriter struct {
	f    *os.File
	path string
	done bool
}

func (w *localWriter) Write(p []byte) (int, error) {
	if w.done {
		return 0, fmt.Errorf("objstore: write %s: writer closed", w.path)
	}
	n, err := w.f.Write(p)
	if err != nil {
		return n, fmt.Errorf("objstore: write %s: %w", w.path, err)
	}
	return n, nil
}

func (w *localWriter) Close() error {
	if w.done {
		return fmt.Errorf("objstore: close %s: writer already closed", w.path)
	}
	w.done = true
	tmp := w.f.Name()
	err := w.f.Sync()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, w.path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("objstore: publish %s: %w", w.path, err)
	}
	syncDir(filepath.Dir(w.path))
	return nil
}

func (w *localWriter) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	w.f.Close()
	if err := os.Remove(w.f.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("objstore: abort %s: %w", w.path, err)
	}
	return nil
}

// syncDir makes a rename in dir durable; failures are ignored (some file systems refuse to sync folders).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// Create writes to a temporary file next to key, renamed over key on Close.
func (l *Local) Create(_ context.Context, key string) (Writer, error) {
	p := localPath(key)
	if strings.HasSuffix(key, "/") || key == "" {
		return nil, fmt.Errorf("objstore: create %s: a key cannot end with /", p)
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("objstore: create %s: %w", p, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(p)+tmpMarker+"*")
	if err != nil {
		return nil, fmt.Errorf("objstore: create %s: %w", p, err)
	}
	return &localWriter{f: f, path: p}, nil
}

// Put writes data to key atomically.
func (l *Local) Put(ctx context.Context, key string, data []byte) error {
	w, err := l.Create(ctx, key)
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		w.Abort()
		return err
	}
	return w.Close()
}

// Delete removes the file at key.
func (l *Local) Delete(_ context.Context, key string) error {
	if err := os.Remove(localPath(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("objstore: delete %s: %w", localPath(key), err)
	}
	return nil
}

// Rename renames the file at from to to, creating to's folder.
func (l *Local) Rename(_ context.Context, from, to string) error {
	src, dst := localPath(from), localPath(to)
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("objstore: rename %s to %s: %w", src, dst, err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("objstore: rename %s to %s: %w", src, dst, err)
	}
	if err := os.Rename(src, dst); err != nil {
		return fmt.Errorf("objstore: rename %s to %s: %w", src, dst, err)
	}
	syncDir(filepath.Dir(dst))
	return nil
}
