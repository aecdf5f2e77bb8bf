package engine

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"io"

	"github.com/kappaflow/kappa/pipeline"
)

// Checkpoints of a ParDo with side inputs. Every snapshot is full (a full snapshot is always correct, see
// snapshot.go): the watermarks, the held main elements of the worker and — from worker 0 only, since every worker
// holds the same broadcast copy — each side input's contents per window, written as the elements that rebuild
// them. A restore gives every worker the side contents and deals the held elements out over the current workers
// (the main input is not keyed, so any worker may process them).

type snapshotter interface {
	writeSnap(enc *gob.Encoder) error
	readSnap(dec *gob.Decoder) error
}

type sideSnapHeader struct {
	MainWM  pipeline.Time
	SideWMs []pipeline.Time
	Views   bool // the side contents follow
	Held    int  // held main elements, in chunks after the side contents
}

type sideWinSnap[T any] struct {
	W     pipeline.Window
	Elems []pipeline.Element[T]
}

func (s *typedStore[T]) writeSnap(enc *gob.Encoder) error {
	if err := enc.Encode(len(s.wins)); err != nil {
		return err
	}
	for w, c := range s.wins {
		if err := enc.Encode(sideWinSnap[T]{W: w, Elems: c.Elements()}); err != nil {
			return err
		}
	}
	return nil
}

func (s *typedStore[T]) readSnap(dec *gob.Decoder) error {
	var n int
	if err := dec.Decode(&n); err != nil {
		return err
	}
	clear(s.wins)
	for range n {
		var ws sideWinSnap[T]
		if err := dec.Decode(&ws); err != nil {
			return err
		}
		c := s.ch.in.newContents()
		for _, e := range ws.Elems {
			c.Add(e)
		}
		s.wins[ws.W] = c
	}
	return nil
}

const heldChunk = 1024

// Snapshot writes the consumer's state; it is always full.
func (c *sideConsumer[In]) Snapshot(w io.Writer, _ bool) (bool, error) {
	enc := gob.NewEncoder(w)
	fail := func(err error) (bool, error) {
		return true, fmt.Errorf("%s: snapshot (side inputs and held elements must be gob-encodable): %w", c.op.name, err)
	}
	h := sideSnapHeader{MainWM: c.mainWm, SideWMs: c.sideWm, Views: c.w.Index == 0, Held: c.nHeld}
	if err := enc.Encode(h); err != nil {
		return fail(err)
	}
	if h.Views {
		for _, s := range c.stores {
			if err := s.writeSnap(enc); err != nil {
				return fail(err)
			}
		}
	}
	chunk := make([]pipeline.Element[In], 0, min(heldChunk, c.nHeld))
	for _, g := range c.held {
		for _, e := range g.es {
			chunk = append(chunk, e)
			if len(chunk) == heldChunk {
				if err := enc.Encode(chunk); err != nil {
					return fail(err)
				}
				chunk = chunk[:0]
			}
		}
	}
	if len(chunk) > 0 {
		if err := enc.Encode(chunk); err != nil {
			return fail(err)
		}
	}
	return true, nil
}

// Restore gives every current worker the side inputs' contents and deals the held main elements out over the
// workers. chains[j] holds worker j's snapshots; every one is full, so the last of each chain is the state.
func (ex *sideExchange[In]) Restore(chains [][]io.Reader) error {
	for j, chain := range chains {
		if len(chain) == 0 {
			continue
		}
		b, err := io.ReadAll(chain[len(chain)-1])
		if err != nil {
			return fmt.Errorf("%s: restore %s: %w", ex.op.name, snapshotName(chain[len(chain)-1], len(chain)-1, j), err)
		}
		for _, c := range ex.cons {
			if err := c.restore(b, j%len(ex.cons) == c.w.Index); err != nil {
				return fmt.Errorf("%s: restore %s: %w", ex.op.name, snapshotName(chain[len(chain)-1], len(chain)-1, j), err)
			}
		}
	}
	return nil
}

// restore applies one snapshot: watermarks (forward only), side contents when it has them, and its held
// elements when takeHeld.
func (c *sideConsumer[In]) restore(b []byte, takeHeld bool) error {
	dec := gob.NewDecoder(bytes.NewReader(b))
	var h sideSnapHeader
	if err := dec.Decode(&h); err != nil {
		return err
	}
	if len(h.SideWMs) != len(c.stores) {
		return fmt.Errorf("the checkpoint has %d side inputs, the pipeline %d", len(h.SideWMs), len(c.stores))
	}
	c.mainWm = max(c.mainWm, h.MainWM)
	for i := range c.sideWm {
		c.sideWm[i] = max(c.sideWm[i], h.SideWMs[i])
	}
	if h.Views {
		for i, s := range c.stores {
			if err := s.readSnap(dec); err != nil {
				return fmt.Errorf("side input %d: %w", i, err)
			}
		}
	}
	if !takeHeld {
		return nil
	}
	for n := 0; n < h.Held; {
		var chunk []pipeline.Element[In]
		if err := dec.Decode(&chunk); err != nil {
			return fmt.Errorf("held elements: %w", err)
		}
		for _, e := range chunk {
			g := c.held[e.Window]
			if g == nil {
				g = &heldGroup[In]{min: e.Time}
				c.held[e.Window] = g
			}
			g.es = append(g.es, e)
			g.min = min(g.min, e.Time)
			c.nHeld++
		}
		n += len(chunk)
		if len(chunk) == 0 {
			return fmt.Errorf("held elements: empty chunk")
		}
	}
	return nil
}
