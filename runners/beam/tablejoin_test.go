package beam_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/pipelinetest/teststream"
	"github.com/kappaflow/kappa/runners/beam"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
)

// Late stream records join on Beam as on runners/local (docs/tablejoin.md): the table sets a to x at 100 ms and to
// y at 200 ms; the watermark passes 300 ms, so cleanup drops x; then records at 150 and 250 ms arrive late and one
// at 400 ms on time. runners/local recognises the late ones and joins the one at 150 ms with the oldest version
// held (y). On Beam a DoFn does not know the watermark: the record at 150 ms waits for its timer, which fires at
// once, and the join, which kept the time it dropped x at, joins it as a late record, with y too (before, it found
// no value there).
func TestTableJoinLateRecordOnPrismEqualsLocal(t *testing.T) {
	t0 := time.UnixMilli(0).UTC()
	at := func(ms int64) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	build := func() (*pipeline.Pipeline, *pipelinetest.Result[string], *teststream.Clock) {
		ts := teststream.New[string](t0).
			AddElements(teststream.At("T a x", at(100)), teststream.At("T a y", at(200))).
			AdvanceWatermark(at(300)).
			AddElements(teststream.At("R a 1", at(150)), teststream.At("R a 2", at(250)), teststream.At("R a 3", at(400))).
			AdvanceWatermark(at(1000))
		p := pipeline.New()
		s := p.Root()
		events := teststream.Read(s, ts)
		table := transforms.FlatMap(s, events, func(l string) []transforms.KV[string, transforms.Change[string]] {
			f := strings.Fields(l)
			if f[0] != "T" {
				return nil
			}
			return []transforms.KV[string, transforms.Change[string]]{transforms.Pair(f[1], transforms.Change[string]{Value: f[2]})}
		})
		stream := transforms.FlatMap(s, events, func(l string) []transforms.KV[string, int] {
			f := strings.Fields(l)
			if f[0] != "R" {
				return nil
			}
			n, _ := strconv.Atoi(f[2])
			return []transforms.KV[string, int]{transforms.Pair(f[1], n)}
		})
		joined := transforms.LeftTableJoin(s, stream, table)
		out := transforms.ParDo(s, joined, transforms.DoFunc[transforms.KV[string, transforms.TableJoined[int, string]], string](
			func(_ context.Context, e pipeline.Element[transforms.KV[string, transforms.TableJoined[int, string]]], emit transforms.Emitter[string]) error {
				tab := "-"
				if e.Value.Value.Found {
					tab = e.Value.Value.Table
				}
				emit.Emit(fmt.Sprintf("%s@%d %d→%s", e.Value.Key, int64(e.Time), e.Value.Value.Value, tab))
				return nil
			}))
		return p, pipelinetest.Collect(s, out), ts.Clock()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	lp, lres, clock := build()
	require.NoError(t, local.New(teststream.Config(clock, 1)).Run(ctx, lp))
	require.ElementsMatch(t, []string{"a@150 1→y", "a@250 2→y", "a@400 3→y"}, lres.Values(), "runners/local")
	bp, bres, _ := build()
	require.NoError(t, beam.New(beam.Config{}).Run(ctx, bp))
	require.ElementsMatch(t, lres.Values(), bres.Values(), "Prism")
}
