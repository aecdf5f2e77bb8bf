// Package s3test runs an S3-compatible server (gofakes3 with its in-memory backend) on 127.0.0.1 for tests: a
// real HTTP S3 protocol peer for the AWS SDK, started in-process in milliseconds and dropped with the test.
//
//	srv := s3test.Start(t)            // bucket "test", cleaned up by t.Cleanup
//	store := srv.Store(t)             // *objstore.S3 for the bucket
//	url := srv.URL("events/a.parquet") // "s3://test/events/a.parquet"
//	cfg := srv.Config                  // objstore.Config with endpoint, path style and static credentials
//
// Server.Stats counts the requests the server answered, so tests can check that readers make ranged reads.
package s3test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/kappaflow/kappa/io/objstore"
)

// Bucket is the bucket every Server creates.
const Bucket = "test"

// Server is a running gofakes3 server.
type Server struct {
	// Endpoint is the server's base URL, "http://127.0.0.1:PORT".
	Endpoint string
	// Bucket is the name of the bucket created at start.
	Bucket string
	// Config is an objstore configuration for the server: endpoint, path style, region us-east-1, static
	// credentials.
	Config objstore.Config

	backend *s3mem.Backend
	http    *httptest.Server
	stats   counters
}

type counters struct {
	requests, gets, rangedGets, conditionalGets, puts, bytesOut atomic.Int64
}

// Stats are the requests a Server answered.
type Stats struct {
	// Requests counts all requests.
	Requests int64
	// Gets counts object GETs (not listings); RangedGets those with a Range header, ConditionalGets those with an
	// If-Match header (gofakes3 ignores If-Match on GET; real S3 answers 412 when the ETag changed).
	Gets, RangedGets, ConditionalGets int64
	// Puts counts PUT requests (objects, parts, copies).
	Puts int64
	// BytesOut counts response body bytes of object GETs.
	BytesOut int64
}

// Start starts a server with bucket Bucket on a free 127.0.0.1 port and stops it when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	be := s3mem.New()
	if err := be.CreateBucket(Bucket); err != nil {
		t.Fatalf("s3test: create bucket: %v", err)
	}
	s := &Server{Bucket: Bucket, backend: be}
	fake := gofakes3.New(be)
	s.http = httptest.NewServer(s.count(fake.Server()))
	t.Cleanup(s.http.Close)
	s.Endpoint = s.http.URL
	s.Config = objstore.Config{
		Region: "us-east-1", Endpoint: s.Endpoint, UsePathStyle: true,
		AccessKeyID: "kappa", SecretAccessKey: "kappa-secret",
	}
	return s
}

// URL returns "s3://BUCKET/key".
func (s *Server) URL(key string) string { return "s3://" + s.Bucket + "/" + key }

// Store returns an objstore.S3 for the server's bucket.
func (s *Server) Store(t testing.TB) *objstore.S3 {
	t.Helper()
	st, err := objstore.NewS3(context.Background(), s.Bucket, s.Config)
	if err != nil {
		t.Fatalf("s3test: %v", err)
	}
	return st
}

// Stats returns the request counters.
func (s *Server) Stats() Stats {
	return Stats{
		Requests: s.stats.requests.Load(), Gets: s.stats.gets.Load(), RangedGets: s.stats.rangedGets.Load(),
		ConditionalGets: s.stats.conditionalGets.Load(),
		Puts:            s.stats.puts.Load(), BytesOut: s.stats.bytesOut.Load(),
	}
}

// ResetStats zeroes the request counters.
func (s *Server) ResetStats() {
	s.stats.requests.Store(0)
	s.stats.gets.Store(0)
	s.stats.rangedGets.Store(0)
	s.stats.conditionalGets.Store(0)
	s.stats.puts.Store(0)
	s.stats.bytesOut.Store(0)
}

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (w countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n.Add(int64(n))
	return n, err
}

func (s *Server) count(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.stats.requests.Add(1)
		// Path style: /bucket/key; an object GET has a key and no listing query.
		isObject := strings.Count(strings.Trim(r.URL.Path, "/"), "/") >= 1
		switch {
		case r.Method == http.MethodGet && isObject:
			s.stats.gets.Add(1)
			if r.Header.Get("Range") != "" {
				s.stats.rangedGets.Add(1)
			}
			if r.Header.Get("If-Match") != "" {
				s.stats.conditionalGets.Add(1)
			}
			w = countingWriter{ResponseWriter: w, n: &s.stats.bytesOut}
		case r.Method == http.MethodPut:
			s.stats.puts.Add(1)
		}
		h.ServeHTTP(w, r)
	})
}
