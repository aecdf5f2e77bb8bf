package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/kappaflow/kappa/internal/w1"
	"github.com/kappaflow/kappa/io/foreach"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/runners/beam"
)

// -runner prism|flink|spark|dataflow runs W1 (generated, batch) on Apache Beam through runners/beam:
//
//	go run ./examples/windowsum -runner prism -n 1000000

// validateBeam refuses the options a Beam run does not support.
func validateBeam(o options, set map[string]bool) error {
	if o.beam == nil || !o.beam.Beam() {
		return nil
	}
	if err := o.beam.Validate(); err != nil {
		return err
	}
	var bad []string
	for _, f := range []string{"from", "to", "checkpoint", "start-from", "live", "state-memory", "publish", "write-parquet", "check-output", "bench"} {
		if set[f] {
			bad = append(bad, "-"+f)
		}
	}
	if o.job.Mode != "batch" {
		bad = append(bad, "-mode "+o.job.Mode)
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return fmt.Errorf("-runner %s runs generated W1 in batch mode only (-n, -window, -keys, -splits): not with %s", o.beam.Runner, strings.Join(bad, ", "))
	}
	return nil
}

// runOnBeam adds a bundle-safe checksum sink to the W1 pipeline and runs it on Beam.
func runOnBeam(ctx context.Context, o options, p *pipeline.Pipeline, s pipeline.Scope, rows pipeline.PCollection[w1.Row], sum *checksum) (result, error) {
	foreach.WriteElements(s, rows, func(_ context.Context, e pipeline.Element[w1.Row]) error {
		sum.mu.Lock()
		defer sum.mu.Unlock()
		if e.Pane.Index > 0 { // a later pane of the row: RowHash is linear in the sum
			sum.sum += uint64(e.Value.Sum)
			return nil
		}
		sum.sum += w1.RowHash(e.Value.Key, e.Value.WindowStart, e.Value.Sum)
		sum.rows++
		return nil
	}, foreach.Name("Checksum"))
	start := time.Now()
	if err := beam.New(o.beam.Config()).Run(ctx, p); err != nil {
		return result{}, err
	}
	checksum, n := sum.result()
	return result{events: o.n, rows: n, checksum: checksum, elapsed: time.Since(start)}, nil
}
