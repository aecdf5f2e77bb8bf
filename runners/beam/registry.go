package beam

import (
	"encoding/json"
	"fmt"
	"sync"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/kappaflow/kappa/pipeline"
)

// Builder builds a pipeline from parameters. Workers that run in another process than the one that submitted the
// job (external or docker environments, Flink, Spark, Dataflow) rebuild the graph by calling the builder
// registered under the name the job carries, with the parameters the job carries as a pipeline option; the
// rebuilt graph must have the submitted graph's fingerprint.
type Builder func(params map[string]string) (*pipeline.Pipeline, error)

var (
	regMu    sync.Mutex
	builders = map[string]Builder{}
	plans    = map[string]*plan{} // by run ID: loopback runs in this process, and graphs rebuilt here
)

// paramsOption is the pipeline option that carries builder parameters (JSON).
const paramsOption = "kappa_builder_params"

// Register registers a builder under name, usually from an init function so that workers have it too. It
// replaces a builder registered earlier under the same name.
func Register(name string, b Builder) {
	regMu.Lock()
	defer regMu.Unlock()
	builders[name] = b
}

func registerPlan(run string, pl *plan) {
	regMu.Lock()
	defer regMu.Unlock()
	plans[run] = pl
}

func unregisterPlan(run string) {
	regMu.Lock()
	defer regMu.Unlock()
	delete(plans, run)
}

// lookupPlan finds the plan of a run: registered by the submitting process (loopback), or rebuilt here by name.
func lookupPlan(run, builder, fp, fnParams string) (*plan, error) {
	regMu.Lock()
	defer regMu.Unlock()
	if pl, ok := plans[run]; ok {
		if pl.fingerprint != fp {
			return nil, fmt.Errorf("kappa/beam: run %s: pipeline fingerprint %s, the job carries %s", run, pl.fingerprint, fp)
		}
		return pl, nil
	}
	if builder == "" {
		return nil, fmt.Errorf("kappa/beam: run %s is not in this process and names no builder: register the pipeline's builder with beam.Register (in an init function) and set Config.Builder", run)
	}
	b, ok := builders[builder]
	if !ok {
		return nil, fmt.Errorf("kappa/beam: no builder %q registered in this worker: call beam.Register(%q, …) in an init function of the worker binary", builder, builder)
	}
	params := map[string]string{}
	raw := beam.PipelineOptions.Get(paramsOption)
	if raw == "" {
		raw = fnParams
	}
	if raw != "" {
		if err := json.Unmarshal([]byte(raw), &params); err != nil {
			return nil, fmt.Errorf("kappa/beam: builder %q: bad parameters option: %w", builder, err)
		}
	}
	p, err := b(params)
	if err != nil {
		return nil, fmt.Errorf("kappa/beam: builder %q: %w", builder, err)
	}
	if err := p.Err(); err != nil {
		return nil, fmt.Errorf("kappa/beam: builder %q: invalid pipeline: %w", builder, err)
	}
	pl, err := newPlan(p)
	if err != nil {
		return nil, err
	}
	if pl.fingerprint != fp {
		return nil, fmt.Errorf("kappa/beam: builder %q with parameters %v built a pipeline with fingerprint %s, but the job was submitted with %s: the worker binary or the parameters differ from the submitter's", builder, params, pl.fingerprint, fp)
	}
	plans[run] = pl
	return pl, nil
}
