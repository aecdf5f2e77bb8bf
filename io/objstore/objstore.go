package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"net/url"
	"path/filepath"
	"strings"
	"time"
)

// ErrNotExist is returned (wrapped) by Stat, Open and Rename when the object does not exist. It is fs.ErrNotExist,
// so errors.Is(err, fs.ErrNotExist) works too.
var ErrNotExist = fs.ErrNotExist

// Object describes one stored object.
type Object struct {
	// Key is the object's key in its store: slash-separated, without a leading slash. For a local store it is the
	// absolute path without its leading slash.
	Key string
	// Size is the object's size in bytes.
	Size int64
	// ModTime is the last modification time.
	ModTime time.Time
	// ETag is the S3 entity tag (empty for local files).
	ETag string
}

// ListOptions tune List.
type ListOptions struct {
	// PageSize is the number of keys fetched per request (S3 ListObjectsV2 MaxKeys). Default 1000.
	PageSize int
	// StartAfter lists only keys that sort after it (S3 StartAfter), e.g. to resume a listing.
	StartAfter string
}

// Store is a flat namespace of objects: a local directory tree or an S3 bucket. Keys are slash-separated and
// sort like S3 keys (byte order); there are no directories, only key prefixes. All methods are safe for
// concurrent use.
type Store interface {
	// URL returns the object's URL as users write it: "s3://bucket/key" or "/abs/path".
	URL(key string) string
	// List yields the objects whose keys start with prefix, in key order, fetching them page by page. A prefix
	// need not end at a "/": "events/dt=2016-09" matches "events/dt=2016-09-21/a.parquet". Iteration stops at
	// the first error, which is yielded with a zero Object.
	List(ctx context.Context, prefix string, opts ListOptions) iter.Seq2[Object, error]
	// Stat describes one object; the error wraps ErrNotExist when there is none.
	Stat(ctx context.Context, key string) (Object, error)
	// Open opens an object for random-access reads. Reads are ranged (S3: one ranged GET per ReadAt call, never
	// the whole object) and use ctx, which must stay valid until the Reader is closed.
	Open(ctx context.Context, key string) (Reader, error)
	// Create starts writing an object. Nothing is visible under key until Writer.Close returns nil; then the
	// whole object is (local: temporary file renamed over key; S3: PutObject, or a multipart upload completed
	// on Close). Abort discards what was written. ctx must stay valid until Close or Abort.
	Create(ctx context.Context, key string) (Writer, error)
	// Put writes a small object atomically.
	Put(ctx context.Context, key string, data []byte) error
	// Delete removes an object; deleting a missing object is not an error.
	Delete(ctx context.Context, key string) error
	// Rename moves an object to a new key, replacing any object there. The new key shows the complete object or
	// nothing (local: rename(2); S3: CopyObject then DeleteObject of the old key, so a crash between the two
	// leaves both). The error wraps ErrNotExist when from does not exist.
	Rename(ctx context.Context, from, to string) error
}

// Reader reads one object at random offsets. io.ReaderAt's contract holds: ReadAt returns a non-nil error when
// it reads fewer than len(p) bytes, io.EOF at the end of the object.
type Reader interface {
	io.ReaderAt
	// Size is the object's size in bytes, as it was when the Reader was opened.
	Size() int64
	// Close releases the reader.
	Close() error
}

// Writer writes one object; see Store.Create.
type Writer interface {
	io.Writer
	// Close publishes the object. After a failed Close nothing is published and the Writer is aborted.
	Close() error
	// Abort discards the object. It is safe to call after Close (then it does nothing).
	Abort() error
}

// Exists reports whether key exists in s.
func Exists(ctx context.Context, s Store, key string) (bool, error) {
	_, err := s.Stat(ctx, key)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrNotExist):
		return false, nil
	}
	return false, err
}

// OpenObject opens an object found by List or Stat. Stores that can use obj's size and ETag do so and skip a
// request (S3 skips the HeadObject that Open makes); others call Open.
func OpenObject(ctx context.Context, s Store, obj Object) (Reader, error) {
	if o, ok := s.(interface {
		openObject(context.Context, Object) (Reader, error)
	}); ok {
		return o.openObject(ctx, obj)
	}
	return s.Open(ctx, obj.Key)
}

// WithContext returns a Reader of the same object whose reads use ctx instead of the context given to Open, for
// callers whose context changes from call to call. It makes no request; r stays usable.
func WithContext(r Reader, ctx context.Context) Reader {
	if c, ok := r.(interface{ withContext(context.Context) Reader }); ok {
		return c.withContext(ctx)
	}
	return r
}

// Location is a parsed object URL.
type Location struct {
	// Scheme is "s3" or "file".
	Scheme string
	// Bucket is the S3 bucket; empty for local paths.
	Bucket string
	// Key is the key in the bucket, or the absolute local path without its leading slash. It may hold glob
	// metacharacters.
	Key string
}

// String formats the location as a URL ("s3://bucket/key") or an absolute path ("/dir/file").
func (l Location) String() string {
	if l.Scheme == "s3" {
		return "s3://" + l.Bucket + "/" + l.Key
	}
	return "/" + l.Key
}

// Parse parses "s3://bucket/key", "file:///abs/path", an absolute path or a relative path (made absolute against
// the working directory). A trailing "/" is kept: it makes the key a folder-like prefix.
func Parse(rawURL string) (Location, error) {
	switch {
	case rawURL == "":
		return Location{}, errors.New("objstore: empty URL")
	case strings.HasPrefix(rawURL, "s3://"):
		rest := strings.TrimPrefix(rawURL, "s3://")
		bucket, key, _ := strings.Cut(rest, "/")
		if bucket == "" {
			return Location{}, fmt.Errorf("objstore: %q: no bucket", rawURL)
		}
		return Location{Scheme: "s3", Bucket: bucket, Key: key}, nil
	case strings.HasPrefix(rawURL, "file://"):
		u, err := url.Parse(rawURL)
		if err != nil {
			return Location{}, fmt.Errorf("objstore: %q: %w", rawURL, err)
		}
		if u.Host != "" && u.Host != "localhost" {
			return Location{}, fmt.Errorf("objstore: %q: file URLs must be file:///absolute/path", rawURL)
		}
		return localLocation(u.Path, rawURL)
	case strings.Contains(rawURL, "://"):
		scheme, _, _ := strings.Cut(rawURL, "://")
		return Location{}, fmt.Errorf("objstore: %q: unsupported scheme %q (want s3://, file:// or a path)", rawURL, scheme)
	}
	return localLocation(rawURL, rawURL)
}

func localLocation(p, raw string) (Location, error) {
	trailing := strings.HasSuffix(p, "/")
	abs, err := filepath.Abs(p)
	if err != nil {
		return Location{}, fmt.Errorf("objstore: %q: %w", raw, err)
	}
	key := strings.TrimPrefix(filepath.ToSlash(abs), "/")
	if trailing && key != "" {
		key += "/"
	}
	return Location{Scheme: "file", Key: key}, nil
}

// Open returns the store for rawURL and the key (or key prefix, or glob pattern) the URL names in it. Local
// paths get a store rooted at "/"; s3:// URLs get an S3 store for the bucket, configured by cfg.
func Open(ctx context.Context, rawURL string, cfg Config) (Store, string, error) {
	loc, err := Parse(rawURL)
	if err != nil {
		return nil, "", err
	}
	if loc.Scheme == "file" {
		return NewLocal(), loc.Key, nil
	}
	s, err := NewS3(ctx, loc.Bucket, cfg)
	if err != nil {
		return nil, "", err
	}
	return s, loc.Key, nil
}
