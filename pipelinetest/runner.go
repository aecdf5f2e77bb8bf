package pipelinetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kappaflow/kappa/pipeline"
)

// Runner runs a pipeline to completion: runners/local's Runner, runners/beam's, or any other.
type Runner interface {
	Run(ctx context.Context, p *pipeline.Pipeline) error
}

// Refusal is implemented by the errors of runners that refuse, before running, a pipeline using features they do
// not support (runners/beam's *ValidationError): Run then skips the test, naming the refused features.
type Refusal interface {
	error
	Refused() []string
}

type registered struct {
	newRunner   func() Runner
	differences map[string]string
}

var (
	runnersMu sync.Mutex
	runners   = map[string]registered{}
)

// RegisterRunner makes a runner available to Run under name, selected by the environment variable KAPPA_RUNNER.
// differences maps test name prefixes to the reason their expectations (written for runners/local) do not hold on
// that runner: Run skips those tests there, with the reason (KAPPA_RUN_KNOWN_DIFFERENCES=1 runs them, to see the
// differences). The hook of -tags beam registers "prism", so ordinary
// test binaries do not link Beam.
func RegisterRunner(name string, newRunner func() Runner, differences map[string]string) {
	runnersMu.Lock()
	defer runnersMu.Unlock()
	runners[name] = registered{newRunner: newRunner, differences: differences}
}

// RunnerName returns the runner selected by KAPPA_RUNNER, "local" when unset.
func RunnerName() string {
	if n := os.Getenv("KAPPA_RUNNER"); n != "" {
		return n
	}
	return "local"
}

func selectedRunner(t testing.TB) (Runner, bool) {
	name := RunnerName()
	if name == "local" {
		return nil, false
	}
	runnersMu.Lock()
	reg, ok := runners[name]
	runnersMu.Unlock()
	if !ok {
		t.Fatalf("KAPPA_RUNNER=%s: no such runner in this test binary (build it with -tags beam for prism)", name)
	}
	for prefix, why := range reg.differences {
		if strings.HasPrefix(t.Name(), prefix) && os.Getenv("KAPPA_RUN_KNOWN_DIFFERENCES") == "" {
			t.Skipf("known difference on %s: %s", name, why)
		}
	}
	return reg.newRunner(), true
}

// refusedLog appends a refused test to the file named by KAPPA_REFUSED_LOG, if set.
func refusedLog(t testing.TB, err Refusal) {
	path := os.Getenv("KAPPA_REFUSED_LOG")
	if path == "" {
		return
	}
	f, ferr := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if ferr != nil {
		t.Logf("KAPPA_REFUSED_LOG: %v", ferr)
		return
	}
	defer f.Close()
	for _, r := range err.Refused() {
		fmt.Fprintf(f, "%s\t%s\n", t.Name(), r)
	}
}

func runOther(t testing.TB, r Runner, p *pipeline.Pipeline) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := r.Run(ctx, p)
	var ref Refusal
	if errors.As(err, &ref) {
		refusedLog(t, ref)
		_ = Verify(p) // drop the checks
		t.Skipf("refused by %s: %v", RunnerName(), err)
	}
	if err != nil {
		t.Fatalf("pipeline run on %s failed: %v", RunnerName(), err)
	}
	if err := Verify(p); err != nil {
		t.Error(err)
	}
}
