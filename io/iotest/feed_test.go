package iotest_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kappaflow/kappa/io/iotest"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
)

// feedEnv is the reference harness: an in-memory pipelinetest.Feed whose splits are named "0", "1", ….
type feedEnv struct {
	iotest.Unsupported // End: a feed is unbounded
	feed               *pipelinetest.Feed[iotest.Record]
	splits             int
}

func newFeedEnv(_ *testing.T, splits int) iotest.Env {
	e := &feedEnv{feed: pipelinetest.NewFeed[iotest.Record]()}
	for range splits {
		e.AddSplit(nil)
	}
	return e
}

// Source returns the feed itself: it keeps no reading state, so it serves as a new instance too.
func (e *feedEnv) Source(*testing.T) pipeline.Source[iotest.Record] { return e.feed }

func (e *feedEnv) Append(_ *testing.T, split int, recs ...iotest.Record) {
	for _, r := range recs {
		e.feed.Send(fmt.Sprint(split), pipelinetest.At(r, r.Time))
	}
}

func (e *feedEnv) AppendBad(_ *testing.T, split int) string {
	return e.feed.SendFailure(fmt.Sprint(split), []byte("\x00garbage"), errors.New("cannot decode"))
}

func (e *feedEnv) AddSplit(*testing.T) int {
	e.feed.AddSplit(fmt.Sprint(e.splits))
	e.splits++
	return e.splits - 1
}

// Sink returns an exactly-once sink into the feed: shard i's committed elements are appended to split i.
func (e *feedEnv) Sink(*testing.T) pipeline.Sink[iotest.Record] { return newFeedSink(e.feed, "") }

func newFeedSink(feed *pipelinetest.Feed[iotest.Record], fault string) *feedSink {
	return &feedSink{feed: feed, fault: fault, staged: map[uint64][]pipeline.Element[iotest.Record]{},
		shard: map[uint64]int{}, done: map[uint64]bool{}}
}

// feedSink stages each writer's elements at Prepare under a token (a sequence number) and appends them to the
// feed at the first Commit of the token. Tokens are unique within one sink value, which the suite shares among
// the writers of a check.
type feedSink struct {
	feed   *pipelinetest.Feed[iotest.Record]
	fault  string // see faultyReader
	mu     sync.Mutex
	next   uint64
	staged map[uint64][]pipeline.Element[iotest.Record]
	shard  map[uint64]int
	done   map[uint64]bool
}

func (s *feedSink) Name() string { return "feed-sink" }

func (s *feedSink) Open(_ context.Context, shard pipeline.Shard) (pipeline.SinkWriter[iotest.Record], error) {
	return &feedSinkWriter{s: s, shard: shard.Index}, nil
}

type feedSinkWriter struct {
	s     *feedSink
	shard int
	buf   []pipeline.Element[iotest.Record]
	refs  [][]pipeline.Element[iotest.Record] // fault sink-keeps-slices
	mine  map[uint64]bool                     // tokens this writer prepared
}

func (w *feedSinkWriter) Write(_ context.Context, elems []pipeline.Element[iotest.Record]) error {
	switch w.s.fault {
	case "sink-publishes-at-write":
		w.s.publish(w.shard, elems)
	case "sink-keeps-slices":
		w.refs = append(w.refs, elems)
	default:
		w.buf = append(w.buf, elems...)
	}
	return nil
}

func (w *feedSinkWriter) Prepare(context.Context, pipeline.Epoch) ([]byte, error) {
	for _, r := range w.refs {
		w.buf = append(w.buf, r...)
	}
	w.refs = nil
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	id := w.s.next
	w.s.next++
	w.s.staged[id], w.s.shard[id] = w.buf, w.shard
	if w.mine == nil {
		w.mine = map[uint64]bool{}
	}
	w.mine[id] = true
	w.buf = nil
	return binary.BigEndian.AppendUint64(nil, id), nil
}

func (w *feedSinkWriter) Commit(_ context.Context, tok []byte) error {
	if len(tok) != 8 {
		return fmt.Errorf("feed sink: bad token %q", tok)
	}
	id := binary.BigEndian.Uint64(tok)
	w.s.mu.Lock()
	if (w.s.done[id] && w.s.fault != "sink-commit-twice") || (w.s.fault == "sink-own-tokens-only" && !w.mine[id]) {
		w.s.mu.Unlock()
		return nil
	}
	w.s.done[id] = true
	elems, shard := w.s.staged[id], w.s.shard[id]
	w.s.mu.Unlock()
	w.s.publish(shard, elems)
	return nil
}

func (s *feedSink) publish(shard int, elems []pipeline.Element[iotest.Record]) {
	for _, e := range elems {
		s.feed.Send(fmt.Sprint(shard), pipelinetest.Timed[iotest.Record]{Value: e.Value, Time: e.Time})
	}
}

func (w *feedSinkWriter) Close(context.Context) error {
	w.buf = nil
	return nil
}

var feedHarness = iotest.Harness{
	Features: iotest.Features{BadRecords: true, NewSplits: true, Sink: true, ExactlyOnceSink: true, Settle: 100 * time.Millisecond},
	Setup:    newFeedEnv,
}

// The in-memory feed passes the suite: the reference implementation.
func TestFeed(t *testing.T) { iotest.TestSource(t, feedHarness) }
