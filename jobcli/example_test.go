package jobcli_test

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/kappaflow/kappa/io/foreach"
	"github.com/kappaflow/kappa/io/generate"
	"github.com/kappaflow/kappa/jobcli"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
)

// A job binary: the shared flags plus its own, one runner configuration, signals handled while it runs. A real
// main passes os.Args[1:] and ends with jobcli.Exit(name, err).
func Example() {
	fs := flag.NewFlagSet("squares", flag.ContinueOnError)
	job := jobcli.Register(fs, jobcli.Flags{Mode: "batch", LogLevel: "warn"})
	n := fs.Int64("n", 10, "how many squares")
	if err := jobcli.Parse(fs, []string{"-n", "4", "-workers", "1"}, job); err != nil {
		fmt.Println(err, jobcli.ExitCode(err))
		return
	}
	ctx := context.Background()
	cfg, err := job.Config(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	p := pipeline.New()
	s := p.Root()
	nums := generate.Read(s, generate.Config[int64]{Count: *n, Func: func(i int64) (int64, pipeline.Time) {
		return i, pipeline.TimeOf(time.Unix(i, 0))
	}})
	squares := transforms.Map(s, nums, func(i int64) int64 { return i * i })
	var sum int64
	foreach.Write(s, squares, func(_ context.Context, v int64) error { sum += v; return nil }) // one worker
	err = job.Run(ctx, local.New(cfg), p)
	fmt.Println("sum", sum, "exit", jobcli.ExitCode(err))

	// A bad flag names itself.
	err = jobcli.Parse(fs, []string{"-workers", "-1"}, job)
	fmt.Println(err, "exit", jobcli.ExitCode(err))
	// Output:
	// sum 14 exit 0
	// -workers -1: want a number ≥ 0 (0: GOMAXPROCS) exit 2
}
