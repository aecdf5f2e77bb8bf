package pipelinetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/runners/local"
)

var (
	checksMu sync.Mutex
	checks   = map[*pipeline.Pipeline][]func() error{}
)

func addCheck(s pipeline.Scope, fn func() error) {
	checksMu.Lock()
	defer checksMu.Unlock()
	checks[s.Pipeline()] = append(checks[s.Pipeline()], fn)
}

// Equals asserts that col holds exactly want, in any order and any windows. The check runs after the pipeline
// (see Run and Verify).
func Equals[T any](s pipeline.Scope, col pipeline.PCollection[T], want ...T) {
	res := Collect(s.Scope("Equals"), col)
	name := checkName(s, "Equals("+col.String()+")")
	addCheck(s, func() error { return diff(name, fmtValues(res.Values()), fmtValues(want)) })
}

// EqualsInWindow asserts that the elements of col in window w are exactly want (in any order).
func EqualsInWindow[T any](s pipeline.Scope, col pipeline.PCollection[T], w pipeline.Window, want ...T) {
	res := Collect(s.Scope("EqualsInWindow"), col)
	name := checkName(s, fmt.Sprintf("EqualsInWindow(%s, %s)", col, w))
	addCheck(s, func() error {
		var got []T
		for _, e := range res.Elements() {
			if e.Window == w {
				got = append(got, e.Value)
			}
		}
		return diff(name, fmtValues(got), fmtValues(want))
	})
}

// EqualsElements asserts that col holds exactly want, comparing values, event times, windows and panes.
func EqualsElements[T any](s pipeline.Scope, col pipeline.PCollection[T], want ...pipeline.Element[T]) {
	res := Collect(s.Scope("EqualsElements"), col)
	name := checkName(s, "EqualsElements("+col.String()+")")
	addCheck(s, func() error { return diff(name, fmtElements(res.Elements()), fmtElements(want)) })
}

// checkName names an assertion by its scope path, e.g. "wordcount/Equals(wordcount/Count.out0)".
func checkName(s pipeline.Scope, what string) string {
	if s.Path() == "" {
		return what
	}
	return s.Path() + "/" + what
}

// Empty asserts that col holds nothing.
func Empty[T any](s pipeline.Scope, col pipeline.PCollection[T]) { Equals[T](s, col) }

// FormatElement formats an element as "value @[window] pane t=time", the form used in diffs; the pane shows its
// timing, index, non-speculative index and first/last flags.
func FormatElement[T any](e pipeline.Element[T]) string {
	p := e.Pane
	flags := ""
	if p.First {
		flags += ",first"
	}
	if p.Last {
		flags += ",last"
	}
	return fmt.Sprintf("%+v @%s %s#%d(ns=%d%s) t=%s", e.Value, e.Window, p.Timing, p.Index, p.NonSpeculativeIndex, flags, e.Time)
}

func fmtValues[T any](vs []T) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = fmt.Sprintf("%+v", v)
	}
	return out
}

func fmtElements[T any](es []pipeline.Element[T]) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = FormatElement(e)
	}
	return out
}

// diff compares two multisets of formatted items and describes the difference.
func diff(name string, got, want []string) error {
	count := map[string]int{}
	for _, g := range got {
		count[g]++
	}
	for _, w := range want {
		count[w]--
	}
	var missing, extra []string
	for k, n := range count {
		for ; n > 0; n-- {
			extra = append(extra, k)
		}
		for ; n < 0; n++ {
			missing = append(missing, k)
		}
	}
	if len(missing) == 0 && len(extra) == 0 {
		return nil
	}
	slices.Sort(missing)
	slices.Sort(extra)
	var b strings.Builder
	fmt.Fprintf(&b, "%s: got %d elements, want %d", name, len(got), len(want))
	list := func(title string, xs []string) {
		if len(xs) == 0 {
			return
		}
		fmt.Fprintf(&b, "\n  %s (%d):", title, len(xs))
		for i, x := range xs {
			if i == 20 {
				fmt.Fprintf(&b, "\n    … and %d more", len(xs)-20)
				break
			}
			fmt.Fprintf(&b, "\n    %s", x)
		}
	}
	list("missing", missing)
	list("unexpected", extra)
	return errors.New(b.String())
}

// Verify runs the checks registered on p by Equals and friends and returns their failures.
func Verify(p *pipeline.Pipeline) error {
	checksMu.Lock()
	cs := checks[p]
	delete(checks, p)
	checksMu.Unlock()
	var errs []error
	for _, c := range cs {
		if err := c(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Run runs p on the local runner (with cfg when given), fails the test on a run error, then verifies the
// pipeline's assertions. When the environment variable KAPPA_RUNNER names another runner registered with
// RegisterRunner (KAPPA_RUNNER=prism in test binaries built with -tags beam), Run runs p there instead and ignores
// cfg; it then returns a local runner that did not run (its Stats are empty).
func Run(t testing.TB, p *pipeline.Pipeline, cfg ...local.Config) *local.Runner {
	t.Helper()
	var c local.Config
	if len(cfg) > 0 {
		c = cfg[0]
	}
	r := local.New(c)
	if other, ok := selectedRunner(t); ok {
		runOther(t, other, p)
		return r
	}
	if err := r.Run(context.Background(), p); err != nil {
		t.Fatalf("pipeline run failed: %v", err)
	}
	if err := Verify(p); err != nil {
		t.Error(err)
	}
	return r
}
