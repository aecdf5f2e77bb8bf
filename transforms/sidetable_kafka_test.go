package transforms_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/testsvc/kafkatest"
	"github.com/kappaflow/kappa/io/kafkaio"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

type fxRate struct {
	Rate float64
}

// ratesTable reads a compacted topic of rates (key: currency, value: JSON, null: deleted) as an AsTable view.
func ratesTable(s pipeline.Scope, brokers []string, bounded bool, opts ...pipeline.ReadOption) transforms.TableView[string, fxRate] {
	changes := kafkaio.Read(s.Scope("rates"), kafkaio.ReadConfig[kafkaio.Change[fxRate]]{Brokers: brokers, Topic: "rates",
		Bounded: bounded, Decode: kafkaio.DecodeChange[fxRate](nil), Logger: quiet}, opts...)
	kvs := transforms.Map(s, changes, func(c kafkaio.Change[fxRate]) transforms.KV[string, transforms.Change[fxRate]] {
		return transforms.Pair(string(c.Key), transforms.Change[fxRate]{Value: c.Value, Delete: c.Deleted})
	})
	return transforms.AsTable(s, kvs)
}

func describeRates(v transforms.TableView[string, fxRate], side transforms.Side) string {
	var rows []string
	for k, r := range v.All(side) {
		rows = append(rows, fmt.Sprintf("%s=%.2f", k, r.Rate))
	}
	slices.Sort(rows)
	return fmt.Sprintf("%d rows [%s]", v.Len(side), strings.Join(rows, " "))
}

func rateRecord(part int32, currency string, value string, at time.Time) kafkatest.Record {
	r := kafkatest.Record{Partition: part, Key: []byte(currency), Time: at}
	if value != "" {
		r.Value = []byte(value)
	}
	return r
}

// A compacted topic read with kafkaio.DecodeChange is an AsTable side input that changes while the job runs: in
// stream mode, after EUR is updated and GBP deleted (a tombstone) on the running topic, the main elements
// processed afterwards see the new table; USD's update stamped an hour before its current value (out of order)
// is ignored. Every main element sees either the old table or a later one, never an older one again. A bounded
// read of the same topic in batch mode gives the complete, final table.
func TestAsTableCompactedKafkaTopic(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("rates", 2))
	t0 := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	c.Produce(t, "rates",
		rateRecord(0, "EUR", `{"Rate":1.10}`, t0), rateRecord(1, "USD", `{"Rate":1.00}`, t0), rateRecord(0, "GBP", `{"Rate":0.90}`, t0))
	const before, after = "3 rows [EUR=1.10 GBP=0.90 USD=1.00]", "2 rows [EUR=1.20 USD=1.00]"

	t.Run("stream", func(t *testing.T) {
		queries := pipelinetest.NewFeed[string]("0")
		res := pipelinetest.NewResult[string]()
		p := pipeline.New()
		s := p.Root()
		table := ratesTable(s, c.Brokers, false)
		out := transforms.MapWithSide(s, pipeline.Read(s.Scope("queries"), pipeline.Source[string](queries)), func(q string, side transforms.Side) string {
			return q + " " + describeRates(table, side)
		}, table)
		pipeline.Write(s, out, pipeline.Sink[string](res))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		var runErr error
		wg.Go(func() {
			runErr = local.New(local.Config{Mode: local.Stream, Workers: 2, BatchWait: 5 * time.Millisecond,
				EpochInterval: 10 * time.Millisecond, Logger: quiet}).Run(ctx, p)
		})
		n := 0
		// probe sends queries until one's answer ends with want, and returns that query's number.
		probe := func(want string) int {
			for ctx.Err() == nil {
				n++
				queries.Send("0", timed(fmt.Sprintf("q%03d", n), int64(n)))
				deadline := time.Now().Add(time.Second)
				for time.Now().Before(deadline) && ctx.Err() == nil {
					vals := res.Values()
					if len(vals) >= n {
						if strings.HasSuffix(vals[n-1], want) {
							return n
						}
						break
					}
					time.Sleep(2 * time.Millisecond)
				}
				time.Sleep(10 * time.Millisecond)
			}
			t.Fatalf("no answer %q before the deadline; got %q", want, res.Values())
			return 0
		}
		first := probe(before)
		c.Produce(t, "rates",
			rateRecord(0, "EUR", `{"Rate":1.20}`, t0.Add(time.Second)),
			rateRecord(0, "GBP", "", t0.Add(2*time.Second)),
			rateRecord(1, "USD", `{"Rate":0.50}`, t0.Add(-time.Hour)))
		changed := probe(after)
		last := probe(after) + 5
		for n < last {
			probe(after)
		}
		cancel()
		wg.Wait()
		require.ErrorIs(t, runErr, context.Canceled)
		vals := res.Values()
		require.Len(t, vals, n)
		for i, v := range vals {
			q := i + 1
			switch {
			case q >= changed:
				require.Equal(t, fmt.Sprintf("q%03d %s", q, after), v, "after the update was seen, every main element sees it")
			case q >= first:
				require.NotContains(t, v, "USD=0.50", "the out-of-order update of USD is ignored")
			}
		}
	})

	t.Run("batch", func(t *testing.T) {
		p := pipeline.New()
		s := p.Root()
		table := ratesTable(s, c.Brokers, true)
		out := transforms.MapWithSide(s, pipelinetest.Create(s, "EUR", "GBP", "USD"), func(k string, side transforms.Side) string {
			r, ok := table.Lookup(side, k)
			return fmt.Sprintf("%s %.2f %v; %s", k, r.Rate, ok, describeRates(table, side))
		}, table)
		res := pipelinetest.Collect(s, out)
		runLocal(t, p, local.Config{Workers: 2})
		require.ElementsMatch(t, []string{"EUR 1.20 true; " + after, "GBP 0.00 false; " + after, "USD 1.00 true; " + after}, res.Values())
	})
}

// A compacted topic that is not written to for a while must not stall the main input's event time: the watermark
// of a ParDoWithSide and of everything downstream is the minimum over its inputs' sources, and a quiet topic's
// watermark stays at its last record's time (here an hour ago). Read with pipeline.IdleTimeout, the idle side
// source is left out while the main source is active, and the main input's one-second windows downstream of the
// side input fire while the job runs.
func TestAsTableQuietTopicDoesNotHoldTheWatermark(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("rates", 1))
	now := time.Now()
	c.Produce(t, "rates", rateRecord(0, "EUR", `{"Rate":1.10}`, now.Add(-time.Hour)))
	queries := pipelinetest.NewFeed[string]("0")
	counts := pipelinetest.NewResult[int64]()
	p := pipeline.New()
	s := p.Root()
	table := ratesTable(s, c.Brokers, false, pipeline.IdleTimeout(100*time.Millisecond))
	out := transforms.MapWithSide(s, pipeline.Read(s.Scope("queries"), pipeline.Source[string](queries)), func(q string, side transforms.Side) string {
		return q + " " + describeRates(table, side)
	}, table)
	pipeline.Write(s, transforms.CountAll(s, windowing.Into(s, out, windowing.Fixed{Size: time.Second})), pipeline.Sink[int64](counts))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ctx.Err() == nil && len(counts.Values()) == 0; i++ {
			queries.Send("0", pipelinetest.At(fmt.Sprint(i), now.Add(time.Duration(i)*200*time.Millisecond)))
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
	})
	err := local.New(local.Config{Mode: local.Stream, Workers: 2, BatchWait: 5 * time.Millisecond, EpochInterval: 10 * time.Millisecond,
		Logger: quiet}).Run(ctx, p)
	wg.Wait()
	require.ErrorIs(t, err, context.Canceled)
	require.NotEmpty(t, counts.Values(), "no window fired: the quiet side topic held the watermark back")
}
