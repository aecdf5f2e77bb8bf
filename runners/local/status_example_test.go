package local_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
)

// A run with StatusAddr serves its status page while it runs (open Runner.StatusURL in a browser, or read the
// JSON under /api/v1/); Runner.Status returns the last snapshot, also after the run.
func ExampleRunner_Status() {
	p := pipeline.New()
	s := p.Root()
	words := transforms.FlatMap(s, pipelinetest.Create(s, "a b", "b c", "c"), strings.Fields)
	pipelinetest.Collect(s, transforms.Count(s, words))

	r := local.New(local.Config{Workers: 2, StatusAddr: "127.0.0.1:0", JobName: "wordcount",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := r.Run(context.Background(), p); err != nil {
		fmt.Println(err)
		return
	}
	st := r.Status()
	fmt.Println(st.Job.Name, st.Job.State, st.Job.Records, st.Job.Watermark.Time)
	for _, stage := range st.Stages {
		fmt.Println(stage.Kind, stage.Transforms)
	}
	// Output:
	// wordcount finished 3 +inf
	// source [Create FlatMap Count/KeyByElement]
	// keyed [Count/CombinePerKey Collect/Write]
}
