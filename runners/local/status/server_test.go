package status_test

import (
	"encoding/json"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/runners/local/status"
)

func testSnapshot() *status.Snapshot {
	now := time.Date(2026, 1, 1, 12, 0, 10, 0, time.UTC)
	wm := status.NewWatermark(now.Add(-10*time.Second).UnixMilli(), now)
	by := int64(4000)
	next := "1"
	return &status.Snapshot{Seq: 7, TakenAt: now,
		Job: status.Job{Name: "clicks", Mode: "stream", State: status.StateRunning, Workers: 2, Records: 100, Watermark: wm},
		Stages: []status.Stage{{ID: 0, Name: "Read", Kind: "source", Parallelism: 2, Transforms: []string{"Read"}, Watermark: wm,
			HeldBack: &status.HeldBack{Source: "kafka://b/t", Split: "0", Watermark: wm, NextSplit: &next, ByMillis: &by}}},
		Edges:      []status.Edge{},
		Transforms: []status.Transform{{Name: "Read", Kind: "Read(kafka://b/t)", Role: "source"}},
		Sources: []status.Source{{Name: "kafka://b/t", Transform: "Read", Watermark: wm, Splits: []status.Split{
			{ID: "0", State: status.SplitReading, Watermark: wm, HoldsBack: true},
			{ID: "1", State: status.SplitIdle, Watermark: status.NewWatermark(math.MaxInt64, now)}}}},
		State:       []status.KeyedState{},
		Checkpoints: status.Checkpoints{Enabled: true, Completed: 3, History: []status.Checkpoint{{Epoch: 2, Kind: "checkpoint"}}},
	}
}

func get(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, string(b)
}

func TestServerEndpoints(t *testing.T) {
	var snap atomic.Pointer[status.Snapshot]
	srv, err := status.Listen("127.0.0.1:0", status.ProviderFunc(snap.Load), status.Options{
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "kappa_up 1\n") })})
	require.NoError(t, err)
	defer srv.Close()
	require.True(t, srv.Loopback())
	base := strings.TrimSuffix(srv.URL(), "/")

	code, _, body := get(t, base+"/api/v1/job")
	require.Equal(t, http.StatusServiceUnavailable, code, "no snapshot yet")
	require.Contains(t, body, "not published a snapshot yet")

	snap.Store(testSnapshot())
	for _, tc := range []struct {
		path  string
		check func(t *testing.T, body string)
	}{
		{"/api/v1/snapshot", func(t *testing.T, body string) {
			var s status.Snapshot
			require.NoError(t, json.Unmarshal([]byte(body), &s))
			require.Equal(t, *testSnapshot(), s)
		}},
		{"/api/v1/job", func(t *testing.T, body string) {
			var j status.Job
			require.NoError(t, json.Unmarshal([]byte(body), &j))
			require.Equal(t, testSnapshot().Job, j)
			require.Contains(t, body, `"watermark":{"time":"2026-01-01T12:00:00.000Z","ms":1767268800000,"lag_ms":10000}`)
		}},
		{"/api/v1/graph", func(t *testing.T, body string) {
			var g status.Graph
			require.NoError(t, json.Unmarshal([]byte(body), &g))
			require.Equal(t, status.GraphOf(testSnapshot()), g)
		}},
		{"/api/v1/sources", func(t *testing.T, body string) {
			require.Contains(t, body, `"watermark":{"time":"+inf","ms":null,"lag_ms":null}`)
		}},
		{"/api/v1/watermarks", func(t *testing.T, body string) {
			var w status.Watermarks
			require.NoError(t, json.Unmarshal([]byte(body), &w))
			require.Equal(t, "0", w.Stages[0].HeldBack.Split)
			require.EqualValues(t, 4000, *w.Stages[0].HeldBack.ByMillis)
			require.Len(t, w.Splits, 2)
			require.True(t, w.Splits[0].HoldsBack)
		}},
		{"/api/v1/state", func(t *testing.T, body string) { require.Equal(t, "[]", body) }},
		{"/api/v1/checkpoints", func(t *testing.T, body string) { require.Contains(t, body, `"completed":3`) }},
		{"/metrics", func(t *testing.T, body string) { require.Equal(t, "kappa_up 1\n", body) }},
		{"/", func(t *testing.T, body string) { require.Contains(t, body, `<script src="/assets/app.js"`) }},
		{"/assets/vendor/README.md", func(t *testing.T, body string) { require.Contains(t, body, "3.1.3") }},
	} {
		t.Run(tc.path, func(t *testing.T) {
			code, h, body := get(t, base+tc.path)
			require.Equal(t, http.StatusOK, code, body)
			require.Equal(t, "no-store", h.Get("Cache-Control"))
			tc.check(t, body)
		})
	}

	t.Run("read-only", func(t *testing.T) {
		resp, err := http.Post(base+"/api/v1/job", "application/json", strings.NewReader("{}"))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	})
	t.Run("unknown endpoint", func(t *testing.T) {
		code, _, body := get(t, base+"/api/v2/job")
		require.Equal(t, http.StatusNotFound, code)
		require.Contains(t, body, "no such endpoint")
	})
}

func TestListenErrors(t *testing.T) {
	p := status.ProviderFunc(func() *status.Snapshot { return nil })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	for _, tc := range []struct{ addr, want string }{
		{ln.Addr().String(), "kappa: status page: address " + ln.Addr().String() + " is already in use"},
		{"8080", "kappa: status page: address \"8080\": want host:port"},
		{"256.1.1.1:80", "kappa: status page: listen on 256.1.1.1:80"},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			_, err := status.Listen(tc.addr, p, status.Options{})
			require.ErrorContains(t, err, tc.want)
		})
	}
	_, err = status.Listen("127.0.0.1:0", nil, status.Options{})
	require.ErrorContains(t, err, "nil provider")
}

func TestListenLoopbackByDefault(t *testing.T) {
	srv, err := status.Listen(":0", status.ProviderFunc(func() *status.Snapshot { return nil }), status.Options{})
	require.NoError(t, err)
	defer srv.Close()
	require.True(t, strings.HasPrefix(srv.Addr(), "127.0.0.1:"), srv.Addr())
	require.True(t, srv.Loopback())
}

func TestNewWatermark(t *testing.T) {
	now := time.UnixMilli(5000)
	require.Equal(t, status.Watermark{Time: "-inf"}, status.NewWatermark(math.MinInt64, now))
	require.Equal(t, status.Watermark{Time: "+inf"}, status.NewWatermark(math.MaxInt64, now))
	w := status.NewWatermark(2000, now)
	require.Equal(t, "1970-01-01T00:00:02.000Z", w.Time)
	require.EqualValues(t, 2000, *w.Millis)
	require.EqualValues(t, 3000, *w.LagMillis)
}
