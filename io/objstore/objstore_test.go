package objstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/testsvc/s3test"
	"github.com/kappaflow/kappa/io/objstore"
)

type backend struct {
	name  string
	store objstore.Store
	base  string // key prefix every test object lives under
	srv   *s3test.Server
}

// backends returns a local store rooted in a temporary folder and an S3 store on a fresh gofakes3 server.
func backends(t *testing.T) []backend {
	srv := s3test.Start(t)
	return []backend{
		{name: "local", store: objstore.NewLocal(), base: strings.TrimPrefix(t.TempDir(), "/") + "/"},
		{name: "s3", store: srv.Store(t), base: "base/", srv: srv},
	}
}

func keys(t *testing.T, seq func(func(objstore.Object, error) bool), base string) []string {
	t.Helper()
	var out []string
	for obj, err := range seq {
		require.NoError(t, err)
		out = append(out, strings.TrimPrefix(obj.Key, base))
	}
	return out
}

func TestPutStatOpenReadAt(t *testing.T) {
	ctx := context.Background()
	data := []byte("0123456789abcdefghij")
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			key := b.base + "dir/obj.bin"
			require.NoError(t, b.store.Put(ctx, key, data))
			obj, err := b.store.Stat(ctx, key)
			require.NoError(t, err)
			require.Equal(t, key, obj.Key)
			require.Equal(t, int64(len(data)), obj.Size)
			ok, err := objstore.Exists(ctx, b.store, key)
			require.NoError(t, err)
			require.True(t, ok)

			r, err := b.store.Open(ctx, key)
			require.NoError(t, err)
			defer r.Close()
			require.Equal(t, int64(20), r.Size())
			tests := []struct {
				name    string
				off     int64
				n       int
				want    string
				wantEOF bool
			}{
				{"start", 0, 4, "0123", false},
				{"middle", 10, 6, "abcdef", false},
				{"exact end", 16, 4, "ghij", false},
				{"past end", 18, 5, "ij", true},
				{"at end", 20, 3, "", true},
			}
			for _, tc := range tests {
				p := make([]byte, tc.n)
				n, err := r.ReadAt(p, tc.off)
				require.Equal(t, tc.want, string(p[:n]), tc.name)
				if tc.wantEOF {
					require.ErrorIs(t, err, io.EOF, tc.name)
				} else {
					require.NoError(t, err, tc.name)
				}
			}
		})
	}
}

func TestMissingObjects(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			key := b.base + "nope/missing.bin"
			_, err := b.store.Stat(ctx, key)
			require.ErrorIs(t, err, objstore.ErrNotExist)
			require.ErrorContains(t, err, "objstore: stat "+b.store.URL(key)+": ")
			_, err = b.store.Open(ctx, key)
			require.ErrorIs(t, err, objstore.ErrNotExist)
			ok, err := objstore.Exists(ctx, b.store, key)
			require.NoError(t, err)
			require.False(t, ok)
			require.NoError(t, b.store.Delete(ctx, key), "deleting a missing object is no error")
			err = b.store.Rename(ctx, key, b.base+"other.bin")
			require.ErrorIs(t, err, objstore.ErrNotExist)
			require.ErrorContains(t, err, "objstore: rename "+b.store.URL(key)+" to "+b.store.URL(b.base+"other.bin")+": ")
			require.Empty(t, keys(t, b.store.List(ctx, b.base+"nope/", objstore.ListOptions{}), b.base),
				"an empty prefix lists nothing and is not an error")
		})
	}
}

func TestRenameReplacesAndDeleteRemoves(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			from, to := b.base+"staging/x=1/a.bin", b.base+"final/x=1/a.bin"
			require.NoError(t, b.store.Put(ctx, to, []byte("old")))
			require.NoError(t, b.store.Put(ctx, from, []byte("new")))
			require.NoError(t, b.store.Rename(ctx, from, to))
			ok, err := objstore.Exists(ctx, b.store, from)
			require.NoError(t, err)
			require.False(t, ok, "the source is gone after a rename")
			require.Equal(t, "new", readAll(t, b.store, to))
			require.NoError(t, b.store.Delete(ctx, to))
			ok, err = objstore.Exists(ctx, b.store, to)
			require.NoError(t, err)
			require.False(t, ok)
		})
	}
}

func readAll(t *testing.T, s objstore.Store, key string) string {
	t.Helper()
	r, err := s.Open(context.Background(), key)
	require.NoError(t, err)
	defer r.Close()
	p := make([]byte, r.Size())
	_, err = r.ReadAt(p, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		require.NoError(t, err)
	}
	return string(p)
}

func TestListOrderPrefixPagination(t *testing.T) {
	ctx := context.Background()
	names := []string{"a-c", "a/b", "a/c/d", "ab", "b", "dt=2016-09-21/hour=18/p0", "dt=2016-09-21/hour=19/p0", "dt=2016-09-22/hour=00/p0"}
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			for _, n := range slices.Backward(names) { // written out of order on purpose
				require.NoError(t, b.store.Put(ctx, b.base+n, []byte(n)))
			}
			tests := []struct {
				name   string
				prefix string
				opts   objstore.ListOptions
				want   []string
			}{
				{"all, S3 byte order", "", objstore.ListOptions{}, names},
				{"folder prefix", "a/", objstore.ListOptions{}, []string{"a/b", "a/c/d"}},
				{"non-folder prefix", "a", objstore.ListOptions{}, []string{"a-c", "a/b", "a/c/d", "ab"}},
				{"partition prefix", "dt=2016-09-2", objstore.ListOptions{}, names[5:]},
				{"pages of 2", "", objstore.ListOptions{PageSize: 2}, names},
				{"start after", "", objstore.ListOptions{StartAfter: b.base + "a/c/d"}, names[3:]},
				{"start after, paged", "dt", objstore.ListOptions{PageSize: 1, StartAfter: b.base + "dt=2016-09-21/hour=18/p0"}, names[6:]},
				{"no match", "zzz", objstore.ListOptions{}, nil},
			}
			for _, tc := range tests {
				got := keys(t, b.store.List(ctx, b.base+tc.prefix, tc.opts), b.base)
				require.Equal(t, tc.want, got, tc.name)
			}
			objs := slices.Collect(func(yield func(objstore.Object) bool) {
				for o, err := range b.store.List(ctx, b.base+"ab", objstore.ListOptions{}) {
					require.NoError(t, err)
					yield(o)
				}
			})
			require.Len(t, objs, 1)
			require.Equal(t, int64(2), objs[0].Size)
			require.False(t, objs[0].ModTime.IsZero())
		})
	}
}

func TestListStopsEarly(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			for _, n := range []string{"1", "2", "3", "4"} {
				require.NoError(t, b.store.Put(ctx, b.base+n, nil))
			}
			var got []string
			for o, err := range b.store.List(ctx, b.base, objstore.ListOptions{PageSize: 1}) {
				require.NoError(t, err)
				got = append(got, strings.TrimPrefix(o.Key, b.base))
				if len(got) == 2 {
					break
				}
			}
			require.Equal(t, []string{"1", "2"}, got)
		})
	}
}

func TestCreateIsAtomic(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			key := b.base + "out/file.bin"
			w, err := b.store.Create(ctx, key)
			require.NoError(t, err)
			_, err = w.Write([]byte("hello "))
			require.NoError(t, err)
			_, err = w.Write([]byte("world"))
			require.NoError(t, err)
			ok, err := objstore.Exists(ctx, b.store, key)
			require.NoError(t, err)
			require.False(t, ok, "nothing is visible before Close")
			require.Empty(t, keys(t, b.store.List(ctx, b.base, objstore.ListOptions{}), b.base), "temporary files are not listed")
			require.NoError(t, w.Close())
			require.Equal(t, "hello world", readAll(t, b.store, key))
			require.ErrorContains(t, w.Close(), "writer already closed")

			w, err = b.store.Create(ctx, b.base+"out/aborted.bin")
			require.NoError(t, err)
			_, err = w.Write([]byte("discard me"))
			require.NoError(t, err)
			require.NoError(t, w.Abort())
			require.NoError(t, w.Abort(), "Abort twice is fine")
			require.Equal(t, []string{"out/file.bin"}, keys(t, b.store.List(ctx, b.base, objstore.ListOptions{}), b.base))
			if b.name == "local" {
				entries, err := os.ReadDir(filepath.Join("/", b.base, "out"))
				require.NoError(t, err)
				require.Len(t, entries, 1, "no temporary file is left behind")
			}
		})
	}
}

func TestS3MultipartUpload(t *testing.T) {
	ctx := context.Background()
	srv := s3test.Start(t)
	cfg := srv.Config
	cfg.PartSize = objstore.MinPartSize
	store, err := objstore.NewS3(ctx, srv.Bucket, cfg)
	require.NoError(t, err)

	data := make([]byte, 2*objstore.MinPartSize+12345)
	for i := range data {
		data[i] = byte(i * 7)
	}
	w, err := store.Create(ctx, "big/object.bin")
	require.NoError(t, err)
	for off := 0; off < len(data); off += 1 << 20 {
		_, err := w.Write(data[off:min(off+1<<20, len(data))])
		require.NoError(t, err)
	}
	ok, err := objstore.Exists(ctx, store, "big/object.bin")
	require.NoError(t, err)
	require.False(t, ok, "a multipart upload is invisible until completed")
	srv.ResetStats()
	require.NoError(t, w.Close())
	require.Equal(t, int64(1), srv.Stats().Puts, "Close uploads the last part (a PUT), then completes the upload (a POST)")
	got := readAll(t, store, "big/object.bin")
	require.Equal(t, sha256.Sum256(data), sha256.Sum256([]byte(got)))

	// An aborted multipart upload leaves nothing.
	w, err = store.Create(ctx, "big/aborted.bin")
	require.NoError(t, err)
	_, err = w.Write(data)
	require.NoError(t, err)
	require.NoError(t, w.Abort())
	ok, err = objstore.Exists(ctx, store, "big/aborted.bin")
	require.NoError(t, err)
	require.False(t, ok)
}

func TestS3ReadsAreRanged(t *testing.T) {
	ctx := context.Background()
	srv := s3test.Start(t)
	store := srv.Store(t)
	require.NoError(t, store.Put(ctx, "k", bytes.Repeat([]byte("x"), 1<<20)))
	r, err := store.Open(ctx, "k")
	require.NoError(t, err)
	srv.ResetStats()
	p := make([]byte, 100)
	_, err = r.ReadAt(p, 5000)
	require.NoError(t, err)
	st := srv.Stats()
	require.Equal(t, int64(1), st.RangedGets)
	require.Equal(t, int64(1), st.ConditionalGets, "reads are pinned to the ETag seen at Open")
	require.Equal(t, int64(100), st.BytesOut, "only the requested range crosses the wire")
}

func TestParse(t *testing.T) {
	wd, err := os.Getwd()
	require.NoError(t, err)
	tests := []struct {
		in      string
		want    objstore.Location
		wantErr string
	}{
		{in: "s3://bucket/events/dt=1/", want: objstore.Location{Scheme: "s3", Bucket: "bucket", Key: "events/dt=1/"}},
		{in: "s3://bucket", want: objstore.Location{Scheme: "s3", Bucket: "bucket"}},
		{in: "/data/x.parquet", want: objstore.Location{Scheme: "file", Key: "data/x.parquet"}},
		{in: "/data/out/", want: objstore.Location{Scheme: "file", Key: "data/out/"}},
		{in: "file:///data/out/", want: objstore.Location{Scheme: "file", Key: "data/out/"}},
		{in: "rel/a", want: objstore.Location{Scheme: "file", Key: strings.TrimPrefix(wd, "/") + "/rel/a"}},
		{in: "", wantErr: "objstore: empty URL"},
		{in: "s3:///key", wantErr: `objstore: "s3:///key": no bucket`},
		{in: "gs://b/k", wantErr: `objstore: "gs://b/k": unsupported scheme "gs" (want s3://, file:// or a path)`},
		{in: "file://host/x", wantErr: `objstore: "file://host/x": file URLs must be file:///absolute/path`},
	}
	for _, tc := range tests {
		got, err := objstore.Parse(tc.in)
		if tc.wantErr != "" {
			require.EqualError(t, err, tc.wantErr, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, got, tc.in)
	}
	require.Equal(t, "s3://b/k/x", objstore.Location{Scheme: "s3", Bucket: "b", Key: "k/x"}.String())
	require.Equal(t, "/data/x", objstore.Location{Scheme: "file", Key: "data/x"}.String())
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  objstore.Config
		want string
	}{
		{"zero value", objstore.Config{}, ""},
		{"small part", objstore.Config{PartSize: 1 << 20}, "objstore: PartSize 1048576 is below the S3 minimum of 5242880 bytes"},
		{"half credentials", objstore.Config{AccessKeyID: "a"}, "objstore: AccessKeyID and SecretAccessKey must be set together"},
		{"bad endpoint", objstore.Config{Endpoint: "127.0.0.1:9100"}, `objstore: Endpoint "127.0.0.1:9100" is not a URL like http://127.0.0.1:9100`},
		{"negative retries", objstore.Config{ReadRetries: -1}, "objstore: ReadRetries -1 is negative"},
	}
	for _, tc := range tests {
		err := tc.cfg.Validate()
		if tc.want == "" {
			require.NoError(t, err, tc.name)
		} else {
			require.EqualError(t, err, tc.want, tc.name)
		}
	}
}

func TestOpenURL(t *testing.T) {
	ctx := context.Background()
	srv := s3test.Start(t)
	s, key, err := objstore.Open(ctx, srv.URL("events/"), srv.Config)
	require.NoError(t, err)
	require.Equal(t, "events/", key)
	require.Equal(t, "s3://test/events/a", s.URL("events/a"))
	require.NoError(t, s.Put(ctx, "events/a", []byte("x")))

	dir := t.TempDir()
	s, key, err = objstore.Open(ctx, "file://"+dir+"/", objstore.Config{})
	require.NoError(t, err)
	require.Equal(t, strings.TrimPrefix(dir, "/")+"/", key)
	require.Equal(t, dir+"/a", s.URL(key+"a"))

	_, _, err = objstore.Open(ctx, "s3://b/", objstore.Config{PartSize: 1})
	require.EqualError(t, err, "objstore: PartSize 1 is below the S3 minimum of 5242880 bytes")
}

func TestOpenObjectAndWithContext(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			key := b.base + "o"
			require.NoError(t, b.store.Put(ctx, key, []byte("abcdef")))
			obj, err := b.store.Stat(ctx, key)
			require.NoError(t, err)
			if b.srv != nil {
				b.srv.ResetStats()
			}
			r, err := objstore.OpenObject(ctx, b.store, obj)
			require.NoError(t, err)
			defer r.Close()
			if b.srv != nil {
				require.Equal(t, int64(0), b.srv.Stats().Requests, "opening a listed object makes no request")
			}
			cancelled, cancel := context.WithCancel(ctx)
			cancel()
			p := make([]byte, 3)
			_, err = objstore.WithContext(r, cancelled).ReadAt(p, 1)
			if b.name == "s3" {
				require.ErrorIs(t, err, context.Canceled, "reads use the new context")
			}
			n, err := r.ReadAt(p, 1)
			require.NoError(t, err, "the original reader keeps its context")
			require.Equal(t, "bcd", string(p[:n]))
		})
	}
}
