package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"sync"

	"github.com/kappaflow/kappa/examples/nexmark/nexmark"
	"github.com/kappaflow/kappa/examples/nexmark/queries"
	"github.com/kappaflow/kappa/io/kafkaio"
	"github.com/kappaflow/kappa/io/parquetio"
	"github.com/kappaflow/kappa/pipeline"
)

// query is one query of the command: it builds the query over the events and attaches the result sinks.
type query struct {
	name  string
	build func(s pipeline.Scope, events pipeline.PCollection[nexmark.Event], p queries.Params, o options) (*checksum, error)
}

// register makes a typed query a command query: its results go to a checksum sink, and to -to when given.
func register[T any](name string, fn func(pipeline.Scope, pipeline.PCollection[nexmark.Event], queries.Params) pipeline.PCollection[T]) query {
	return query{name: name, build: func(s pipeline.Scope, events pipeline.PCollection[nexmark.Event], p queries.Params, o options) (*checksum, error) {
		res := fn(s, events, p)
		sum := &checksum{done: map[uint64]bool{}, staged: map[uint64][2]uint64{}}
		pipeline.Write(s, res, pipeline.Sink[T](&checksumSink[T]{c: sum, countOnly: o.sink == "count"}))
		switch {
		case isKafka(o.to):
			wc, err := kafkaio.WriteConfigFromURL[T](o.to)
			if err != nil {
				return nil, &usageError{"to", err.Error()}
			}
			wc.Logger = logger(o)
			kafkaio.Write(s, res, wc)
		case o.to != "":
			parquetio.Write(s, res, parquetio.WriteConfig[T]{URL: o.to, S3: s3Config(o), JobID: "nexmark-" + name, Logger: logger(o)})
		}
		return sum, nil
	}}
}

var allQueries = []query{
	register("q0", func(s pipeline.Scope, e pipeline.PCollection[nexmark.Event], _ queries.Params) pipeline.PCollection[nexmark.Event] {
		return queries.Q0(s, e)
	}),
	register("q1", func(s pipeline.Scope, e pipeline.PCollection[nexmark.Event], _ queries.Params) pipeline.PCollection[nexmark.Bid] {
		return queries.Q1(s, e)
	}),
	register("q2", queries.Q2),
	register("q3", queries.Q3),
	register("q4", queries.Q4),
	register("q5", queries.Q5),
	register("q6", queries.Q6),
	register("q7", queries.Q7),
	register("q8", queries.Q8),
	register("q11", queries.Q11),
	register("q12", queries.Q12),
}

// checksum folds results into an order-independent checksum (the sum of a hash of each result and its window),
// exactly once per committed epoch.
type checksum struct {
	mu       sync.Mutex
	total, n uint64
	done     map[uint64]bool
	staged   map[uint64][2]uint64
	next     uint64
}

func (c *checksum) sum() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

func (c *checksum) rows() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

type checksumSink[T any] struct {
	c         *checksum
	countOnly bool
}

func (k *checksumSink[T]) Name() string { return "checksum" }

func (k *checksumSink[T]) Open(context.Context, pipeline.Shard) (pipeline.SinkWriter[T], error) {
	return &checksumWriter[T]{c: k.c, countOnly: k.countOnly}, nil
}

type checksumWriter[T any] struct {
	c         *checksum
	sum, rows uint64
	buf       []byte
	countOnly bool
}

func (w *checksumWriter[T]) Write(_ context.Context, elems []pipeline.Element[T]) error {
	for _, e := range elems {
		if w.countOnly {
			break
		}
		h := fnv.New64a()
		w.buf = fmt.Appendf(w.buf[:0], "%d %d %+v", int64(e.Window.Start), int64(e.Window.End), e.Value)
		h.Write(w.buf)
		w.sum += h.Sum64()
	}
	w.rows += uint64(len(elems))
	return nil
}

func (w *checksumWriter[T]) Prepare(context.Context, pipeline.Epoch) ([]byte, error) {
	w.c.mu.Lock()
	id := w.c.next
	w.c.next++
	w.c.staged[id] = [2]uint64{w.sum, w.rows}
	w.c.mu.Unlock()
	w.sum, w.rows = 0, 0
	return binary.BigEndian.AppendUint64(nil, id), nil
}

func (w *checksumWriter[T]) Commit(_ context.Context, tok []byte) error {
	id := binary.BigEndian.Uint64(tok)
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	if w.c.done[id] {
		return nil
	}
	w.c.done[id] = true
	st := w.c.staged[id]
	w.c.total += st[0]
	w.c.n += st[1]
	delete(w.c.staged, id)
	return nil
}

func (w *checksumWriter[T]) Close(context.Context) error { return nil }
