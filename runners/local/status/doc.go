// Package status serves the status page of a running kappa job: one HTML page, updated live, that shows the job
// graph (stages of fused transforms and the shuffles between them), element counts and rates per transform, each
// source split's position, lag and watermark, which split holds each stage's watermark back, late and dead-letter
// counts, busy time per stage, keyed state per operator and the checkpoint history — and the same data as JSON
// under /api/v1/ for scripts.
//
// The local runner serves it when runners/local.Config.StatusAddr is set; the page is read-only, bound to the
// loopback interface unless an address names another host, and redacts credentials found in URLs (source names,
// split IDs). Snapshot is the data model: the JSON field names are documented on its types and in
// docs/operations.md ("Status page").
//
//	srv, err := status.Listen("127.0.0.1:8080", provider, status.Options{})
//	if err != nil { … }          // e.g. the address is already in use
//	defer srv.Close()
//	fmt.Println("status page:", srv.URL())
//
// The graph is laid out in the browser by dagre (vendored, MIT licence: assets/vendor/).
package status
