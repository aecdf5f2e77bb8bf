// Command fakes3 serves an in-memory S3-compatible server (gofakes3) for demos and manual tests:
//
//	go run ./internal/testsvc/s3test/cmd/fakes3 -addr 127.0.0.1:9100 -bucket kappa
//
// Point clients at http://127.0.0.1:9100 with path-style addressing, region us-east-1 and any credentials. Data
// lives in memory and is lost when the process stops.
package main

import (
	"flag"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9100", "listen address")
	buckets := flag.String("bucket", "kappa", "comma-separated buckets to create at start")
	flag.Parse()
	be := s3mem.New()
	for _, b := range strings.Split(*buckets, ",") {
		if b = strings.TrimSpace(b); b != "" {
			if err := be.CreateBucket(b); err != nil {
				slog.Error("fakes3: create bucket", "bucket", b, "err", err)
				os.Exit(1)
			}
		}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		slog.Error("fakes3: listen", "addr", *addr, "err", err)
		os.Exit(1)
	}
	slog.Info("fakes3: serving S3", "endpoint", "http://"+ln.Addr().String(), "buckets", *buckets)
	if err := http.Serve(ln, gofakes3.New(be, gofakes3.WithAutoBucket(true)).Server()); err != nil {
		slog.Error("fakes3: serve", "err", err)
		os.Exit(1)
	}
}
