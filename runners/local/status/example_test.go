package status_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/kappaflow/kappa/runners/local/status"
)

// A job publishes snapshots; the server hands out the latest. The local runner does this itself when
// local.Config.StatusAddr is set; a runner of one's own implements Provider.
func ExampleListen() {
	snap := &status.Snapshot{Seq: 1, Job: status.Job{Name: "clicks", Mode: "stream", State: status.StateRunning, Workers: 4,
		Watermark: status.NewWatermark(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC).UnixMilli(), time.Now())}}
	srv, err := status.Listen("127.0.0.1:0", status.ProviderFunc(func() *status.Snapshot { return snap }), status.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()

	resp, err := http.Get(srv.URL() + "api/v1/job")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	var job status.Job
	if err := json.NewDecoder(resp.Body).Decode(&job); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(job.Name, job.Mode, job.State, job.Workers, job.Watermark.Time)
	// Output: clicks stream running 4 2026-01-01T12:00:00.000Z
}

func ExampleRedact() {
	fmt.Println(status.Redact("s3://AKIA123:secret@minio:9000/archive/"))
	fmt.Println(status.Redact("kafka://broker:9092/events?sasl_user=app&sasl_password=hunter2"))
	// Output:
	// s3://REDACTED@minio:9000/archive/
	// kafka://broker:9092/events?sasl_user=REDACTED&sasl_password=REDACTED
}
