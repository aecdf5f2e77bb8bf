package status

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"
)

// Provider hands out the latest snapshot of a job. Snapshot must be safe for concurrent use and cheap (the local
// runner returns a pointer it published between micro-batches); it returns nil before the first snapshot.
type Provider interface {
	Snapshot() *Snapshot
}

// ProviderFunc adapts a function to Provider.
type ProviderFunc func() *Snapshot

// Snapshot calls f.
func (f ProviderFunc) Snapshot() *Snapshot { return f() }

// Options configures the server.
type Options struct {
	// Metrics, when set, is also served at /metrics (the job's Prometheus metrics).
	Metrics http.Handler
}

//go:embed assets
var assets embed.FS

// Server serves the status page and its JSON API. Create it with Listen.
type Server struct {
	ln  net.Listener
	srv *http.Server
}

// Listen binds addr and serves the status page of p on it until Close. An address without a host (":8080")
// binds the loopback interface (127.0.0.1), so the page is not exposed unless a host is named
// ("0.0.0.0:8080"); port 0 picks a free port (see Addr). An address already in use is an error that says so.
func Listen(addr string, p Provider, opts Options) (*Server, error) {
	if p == nil {
		return nil, errors.New("kappa: status page: nil provider")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("kappa: status page: address %q: want host:port, e.g. 127.0.0.1:8080: %w", addr, err)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	bind := net.JoinHostPort(host, port)
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("kappa: status page: address %s is already in use (another job or program listens there; choose another address, or port 0 for a free one): %w", bind, err)
		}
		return nil, fmt.Errorf("kappa: status page: listen on %s: %w", bind, err)
	}
	s := &Server{ln: ln, srv: &http.Server{Handler: Handler(p, opts), ReadHeaderTimeout: 5 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute}}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Addr is the address the server listens on, e.g. "127.0.0.1:8080".
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is the page's address, e.g. "http://127.0.0.1:8080/".
func (s *Server) URL() string { return "http://" + s.Addr() + "/" }

// Close stops the server and closes its connections.
func (s *Server) Close() error { return s.srv.Close() }

// Handler returns the status page and API of p as an http.Handler (for mounting in a server of one's own).
// Every route answers GET and HEAD only: the page is read-only.
//
//	/                       the page
//	/assets/…               its script, style sheet and the vendored dagre
//	/api/v1/snapshot        Snapshot
//	/api/v1/job             Job
//	/api/v1/graph           {"stages": [Stage], "edges": [Edge], "transforms": [Transform]}
//	/api/v1/sources         [Source]
//	/api/v1/watermarks      {"job": Watermark, "stages": [StageWatermark], "splits": [SplitWatermark]}
//	/api/v1/state           [KeyedState]
//	/api/v1/checkpoints     Checkpoints
//	/metrics                Prometheus metrics (when Options.Metrics is set)
func Handler(p Provider, opts Options) http.Handler {
	mux := http.NewServeMux()
	sub, _ := fs.Sub(assets, "assets")
	static := http.FileServerFS(sub)
	mux.Handle("/assets/", http.StripPrefix("/assets/", static))
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		b, err := assets.ReadFile("assets/index.html")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(b)
	})
	api := func(path string, part func(*Snapshot) any) {
		mux.HandleFunc("/api/v1/"+path, func(w http.ResponseWriter, r *http.Request) {
			s := p.Snapshot()
			if s == nil {
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "the job has not published a snapshot yet"})
				return
			}
			writeJSON(w, http.StatusOK, part(s))
		})
	}
	api("snapshot", func(s *Snapshot) any { return s })
	api("job", func(s *Snapshot) any { return s.Job })
	api("graph", func(s *Snapshot) any { return GraphOf(s) })
	api("sources", func(s *Snapshot) any { return s.Sources })
	api("watermarks", func(s *Snapshot) any { return WatermarksOf(s) })
	api("state", func(s *Snapshot) any { return s.State })
	api("checkpoints", func(s *Snapshot) any { return s.Checkpoints })
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such endpoint: " + r.URL.Path +
			" (see /api/v1/snapshot, job, graph, sources, watermarks, state, checkpoints)"})
	})
	if opts.Metrics != nil {
		mux.Handle("/metrics", opts.Metrics)
	}
	return readOnly(mux)
}

// readOnly refuses every method but GET and HEAD and sets the headers of a page that loads nothing from
// elsewhere.
func readOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "the status page is read-only", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'")
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// Graph is what GET /api/v1/graph returns: the job graph alone.
type Graph struct {
	Stages     []Stage     `json:"stages"`
	Edges      []Edge      `json:"edges"`
	Transforms []Transform `json:"transforms"`
}

// GraphOf returns the graph part of s.
func GraphOf(s *Snapshot) Graph {
	return Graph{Stages: s.Stages, Edges: s.Edges, Transforms: s.Transforms}
}

// Watermarks is what GET /api/v1/watermarks returns: every watermark of the job and what holds each back.
type Watermarks struct {
	// Job is the job's input watermark (the minimum over sources).
	Job Watermark `json:"job"`
	// Stages are the stages' watermarks, with the split holding each back.
	Stages []StageWatermark `json:"stages"`
	// Splits are the splits' watermarks.
	Splits []SplitWatermark `json:"splits"`
}

// StageWatermark is a stage's watermark and the split holding it back.
type StageWatermark struct {
	Stage     int       `json:"stage"`
	Name      string    `json:"name"`
	Watermark Watermark `json:"watermark"`
	HeldBack  *HeldBack `json:"held_back"`
}

// SplitWatermark is a split's watermark.
type SplitWatermark struct {
	Source    string    `json:"source"`
	Split     string    `json:"split"`
	State     string    `json:"state"`
	Watermark Watermark `json:"watermark"`
	HoldsBack bool      `json:"holds_back"`
}

// WatermarksOf returns the watermark part of s.
func WatermarksOf(s *Snapshot) Watermarks {
	out := Watermarks{Job: s.Job.Watermark, Stages: []StageWatermark{}, Splits: []SplitWatermark{}}
	for _, st := range s.Stages {
		out.Stages = append(out.Stages, StageWatermark{Stage: st.ID, Name: st.Name, Watermark: st.Watermark, HeldBack: st.HeldBack})
	}
	for _, src := range s.Sources {
		for _, sp := range src.Splits {
			out.Splits = append(out.Splits, SplitWatermark{Source: src.Name, Split: sp.ID, State: sp.State,
				Watermark: sp.Watermark, HoldsBack: sp.HoldsBack})
		}
	}
	return out
}

// hostIsLoopback reports whether addr's host is a loopback address or name.
func hostIsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Loopback reports whether the server listens on the loopback interface only.
func (s *Server) Loopback() bool { return hostIsLoopback(s.Addr()) }
