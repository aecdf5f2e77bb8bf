package kafkaio_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/exec"
	"github.com/kappaflow/kappa/io/kafkaio"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

// groupPipeline reads a topic in consumer-group mode (no broker is contacted before the run plans) and, when
// keyed, counts per key in fixed windows.
func groupPipeline(keyed, accept bool) *pipeline.Pipeline {
	p := pipeline.New()
	s := p.Root()
	in := kafkaio.Read(s, kafkaio.ReadConfig[string]{Brokers: []string{"127.0.0.1:1"}, Topic: "events", Group: "g", PerProcessResults: accept})
	if keyed {
		w := windowing.Into(s, in, windowing.Fixed{Size: time.Minute})
		transforms.CountPerKey(s, transforms.KeyBy(s, w, func(v string) string { return v }))
	} else {
		transforms.Map(s, in, func(v string) int { return len(v) })
	}
	return p
}

// Consumer-group mode keeps each process's keyed state to itself: the local runner refuses a keyed or windowed
// pipeline over a group source, pointing to runners/beam, unless per-process results were accepted.
func TestGroupModeRefusesKeyedPipelines(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := local.New(local.Config{}).Run(ctx, groupPipeline(true, false))
	require.Error(t, err)
	require.Contains(t, err.Error(), "consumer-group mode")
	require.Contains(t, err.Error(), "WindowInto")
	require.Contains(t, err.Error(), "runners/beam")
	require.Contains(t, err.Error(), "PerProcessResults")

	require.NoError(t, exec.CheckProcessLocal(groupPipeline(true, true)), "accepted per-process results")
	require.NoError(t, exec.CheckProcessLocal(groupPipeline(false, false)), "element-wise only")
}
