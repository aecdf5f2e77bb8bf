package beam

import (
	"flag"
	"fmt"
	"strings"
)

// Flags are the command-line options of a program that runs its pipeline on runners/local or on Beam:
// -runner local|prism|flink|spark|dataflow|universal, and Beam's usual options -endpoint, -environment_type,
// -environment_config, -job_name, -project, -region and -temp_location. On flag.CommandLine, where Beam's SDK
// registers those options itself, AddFlags adds -runner only and reads Beam's.
type Flags struct {
	// Runner is the selected runner, "local" by default.
	Runner string
	fs     *flag.FlagSet
	own    map[string]*string
}

// beamOptions are Beam's usual options, with their usage.
var beamOptions = [][2]string{
	{"endpoint", "Beam job service endpoint, host:port (Flink's or Spark's job server, a stand-alone Prism); empty with -runner prism starts Prism in this process"},
	{"environment_type", "how the Beam runner starts workers: LOOPBACK (this process; Prism's default), DOCKER, PROCESS or EXTERNAL"},
	{"environment_config", "the worker environment's configuration: container image (DOCKER), worker pool address (EXTERNAL) or boot command (PROCESS)"},
	{"job_name", "Beam job name"},
	{"project", "Google Cloud project (Dataflow)"},
	{"region", "Google Cloud region (Dataflow)"},
	{"temp_location", "Cloud Storage temp location, gs://bucket/tmp (Dataflow)"},
}

// AddFlags registers the flags on fs.
func AddFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{fs: fs, own: map[string]*string{}}
	fs.StringVar(&f.Runner, "runner", "local", "where to run the pipeline: local (runners/local), or on Apache Beam: prism (in this process), flink, spark, dataflow, universal")
	for _, o := range beamOptions {
		if fs == flag.CommandLine && flag.Lookup(o[0]) != nil {
			continue // Beam's own flag
		}
		f.own[o[0]] = fs.String(o[0], "", o[1])
	}
	return f
}

// Beam reports whether a Beam runner was selected.
func (f *Flags) Beam() bool { return f.Runner != "" && f.Runner != "local" }

// Validate reports an unknown runner.
func (f *Flags) Validate() error {
	switch strings.ToLower(f.Runner) {
	case "", "local", "prism", "flink", "spark", "dataflow", "universal":
		return nil
	}
	return fmt.Errorf("-runner %q: want local, prism, flink, spark, dataflow or universal", f.Runner)
}

func (f *Flags) get(name string) string {
	if p, ok := f.own[name]; ok {
		return *p
	}
	if fl := flag.Lookup(name); fl != nil {
		return fl.Value.String()
	}
	return ""
}

// Config returns the Beam configuration the flags select.
func (f *Flags) Config() Config {
	return Config{Runner: f.Runner, Endpoint: f.get("endpoint"), EnvironmentType: f.get("environment_type"),
		EnvironmentConfig: f.get("environment_config"), JobName: f.get("job_name"), Project: f.get("project"),
		Region: f.get("region"), TempLocation: f.get("temp_location")}
}
