package engine

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"fmt"
	"io"

	"github.com/kappaflow/kappa/coder"
	"github.com/kappaflow/kappa/pipeline"
)

// Checkpoints of a ParDo with side inputs. Every snapshot is full (a full snapshot is always correct, see
// snapshot.go): the watermarks, the held main elements of the worker and — from worker 0 only, since every worker
// holds the same broadcast copy — each side input's contents per window, written as the elements that rebuild
// them. A restore gives every worker the side contents and deals the held elements out over the current workers
// (the main input is not keyed, so any worker may process them).

// Format 3 (snapcodec.go): the magic; a header chunk — main watermark, the side watermarks (count, then each),
// whether the side contents follow, the count of held elements, the coder's format version, the coder name of the
// main elements and of each side input's elements; then, when the contents follow, per side input a record with
// its window count and per window a record (window, element count) followed by a record per element; then a
// record per held element. Elements are pipeline.Element values encoded by coder.Of. Formats 1 and 2 were gob
// streams (sideSnapHeader, then the stores' windows, then chunks of held elements), still restored.

type snapshotter interface {
	readSnap(dec *gob.Decoder) error
	elemShape() (string, error)
	writeCoded(so *snapOut) error
	readCoded(rr *recReader) error
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

func (s *typedStore[T]) elemShape() (string, error) {
	c, err := coder.Of[pipeline.Element[T]]()
	return c.Name, err
}

func (s *typedStore[T]) writeCoded(so *snapOut) error {
	ec, err := coder.Of[pipeline.Element[T]]()
	if err != nil {
		return err
	}
	so.buf = binary.AppendUvarint(so.buf, uint64(len(s.wins)))
	if err := so.recordDone(); err != nil {
		return err
	}
	for w, c := range s.wins {
		es := c.Elements()
		so.buf = binary.AppendUvarint(appendWindow(so.buf, w), uint64(len(es)))
		if err := so.recordDone(); err != nil {
			return err
		}
		for _, e := range es {
			if so.buf, err = appendValue(so.buf, ec.Append, e); err != nil {
				return err
			}
			if err := so.recordDone(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *typedStore[T]) readCoded(rr *recReader) error {
	ec, err := coder.Of[pipeline.Element[T]]()
	if err != nil {
		return err
	}
	d, err := rr.rec()
	if err != nil {
		return err
	}
	n := d.uvarint()
	if d.err != nil {
		return d.err
	}
	clear(s.wins)
	for range n {
		if d, err = rr.rec(); err != nil {
			return err
		}
		w := d.window()
		m := d.uvarint()
		if d.err != nil {
			return d.err
		}
		c := s.ch.in.newContents()
		for range m {
			e, err := readElem(rr, ec)
			if err != nil {
				return fmt.Errorf("window %s: %w", w, err)
			}
			c.Add(e)
		}
		s.wins[w] = c
	}
	return nil
}

// readElem reads a record holding one element.
func readElem[T any](rr *recReader, ec coder.Coder[pipeline.Element[T]]) (pipeline.Element[T], error) {
	d, err := rr.rec()
	if err != nil {
		return pipeline.Element[T]{}, err
	}
	b := d.bytes()
	if d.err != nil {
		return pipeline.Element[T]{}, d.err
	}
	return ec.Decode(b)
}

// recReader reads the records of a snapshot's chunks one by one (a record never spans chunks).
type recReader struct {
	si *snapIn
	d  *dec
}

// rec returns the decoder positioned at the next record.
func (rr *recReader) rec() (*dec, error) {
	if rr.d != nil && rr.d.err != nil {
		return nil, rr.d.err
	}
	for rr.d == nil || !rr.d.more() {
		b, err := rr.si.next()
		if err != nil {
			return nil, err
		}
		if b == nil {
			return nil, fmt.Errorf("the snapshot ends early: %w", errCorrupt)
		}
		rr.d = &dec{b: b}
	}
	return rr.d, nil
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

// checkCoder reports a side input element type the coder refuses.
func (s *sideInput[T]) checkCoder() error {
	_, err := coder.Of[pipeline.Element[T]]()
	return err
}

// CheckCheckpointCoders reports, before a run starts, a main or side input element type that checkpoints cannot
// encode (held main elements and side contents are in checkpoints; they are not spilled).
func (o *SideParDoOp[In]) CheckCheckpointCoders() error {
	if _, err := coder.Of[pipeline.Element[In]](); err != nil {
		return fmt.Errorf("%s: main input element type %s: %w", o.name, pipeline.TypeName[In](), err)
	}
	for i, s := range o.spec.Sides {
		if c, ok := s.(interface{ checkCoder() error }); ok {
			if err := c.checkCoder(); err != nil {
				return fmt.Errorf("%s: side input %d (%s[%s]): %w", o.name, i, s.Kind(), s.typeName(), err)
			}
		}
	}
	return nil
}

// Snapshot writes the consumer's state; it is always full.
func (c *sideConsumer[In]) Snapshot(w io.Writer, _ bool) (bool, error) {
	fail := func(err error) (bool, error) {
		return true, fmt.Errorf("%s: snapshot: %w", c.op.name, err)
	}
	ec, err := coder.Of[pipeline.Element[In]]()
	if err != nil {
		return fail(fmt.Errorf("main input element type %s: %w", pipeline.TypeName[In](), err))
	}
	views := c.w.Index == 0
	hdr := binary.AppendVarint(nil, int64(c.mainWm))
	hdr = binary.AppendUvarint(hdr, uint64(len(c.sideWm)))
	for _, wm := range c.sideWm {
		hdr = binary.AppendVarint(hdr, int64(wm))
	}
	hdr = append(hdr, boolByte(views))
	hdr = binary.AppendUvarint(hdr, uint64(c.nHeld))
	hdr = binary.AppendUvarint(hdr, coder.FormatVersion)
	hdr = appendString(hdr, ec.Name)
	for i, s := range c.stores {
		shape, err := s.elemShape()
		if err != nil {
			return fail(fmt.Errorf("side input %d: %w", i, err))
		}
		hdr = appendString(hdr, shape)
	}
	so, err := newSnapOut(w, hdr)
	if err != nil {
		return fail(err)
	}
	if views {
		for i, s := range c.stores {
			if err := s.writeCoded(so); err != nil {
				return fail(fmt.Errorf("side input %d: %w", i, err))
			}
		}
	}
	for _, g := range c.held {
		for _, e := range g.es {
			if so.buf, err = appendValue(so.buf, ec.Append, e); err != nil {
				return fail(fmt.Errorf("held element: %w", err))
			}
			if err := so.recordDone(); err != nil {
				return fail(err)
			}
		}
	}
	if err := so.close(); err != nil {
		return fail(err)
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
	isCoder, br, err := isCoderSnapshot(bytes.NewReader(b))
	if err != nil {
		return err
	}
	if isCoder {
		return c.restoreCoded(br, takeHeld)
	}
	dec := gob.NewDecoder(br)
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

// restoreCoded applies a snapshot of format 3.
func (c *sideConsumer[In]) restoreCoded(br *bufio.Reader, takeHeld bool) error {
	si := &snapIn{r: br}
	hb, err := si.next()
	if err != nil {
		return fmt.Errorf("header: %w", err)
	}
	h := &dec{b: hb}
	mainWm := pipeline.Time(h.varint())
	sides := h.uvarint()
	if h.err == nil && sides != uint64(len(c.stores)) {
		return fmt.Errorf("the checkpoint has %d side inputs, the pipeline %d", sides, len(c.stores))
	}
	sideWms := make([]pipeline.Time, len(c.stores))
	for i := range sideWms {
		sideWms[i] = pipeline.Time(h.varint())
	}
	views := h.byte1() == 1
	held := h.uvarint()
	version := h.uvarint()
	mainShape := h.str()
	sideShapes := make([]string, len(c.stores))
	for i := range sideShapes {
		sideShapes[i] = h.str()
	}
	if h.err != nil {
		return fmt.Errorf("header: %w", h.err)
	}
	if version != coder.FormatVersion {
		return fmt.Errorf("the snapshot's values have coder format %d, this kappa reads %d", version, coder.FormatVersion)
	}
	ec, err := coder.Of[pipeline.Element[In]]()
	if err != nil {
		return err
	}
	if mainShape != ec.Name {
		return fmt.Errorf("the checkpoint's main elements are %s, the pipeline's %s: the type changed", mainShape, ec.Name)
	}
	for i, s := range c.stores {
		shape, err := s.elemShape()
		if err != nil {
			return fmt.Errorf("side input %d: %w", i, err)
		}
		if shape != sideShapes[i] {
			return fmt.Errorf("side input %d: the checkpoint's elements are %s, the pipeline's %s: the type changed", i, sideShapes[i], shape)
		}
	}
	c.mainWm = max(c.mainWm, mainWm)
	for i := range c.sideWm {
		c.sideWm[i] = max(c.sideWm[i], sideWms[i])
	}
	rr := &recReader{si: si}
	if views {
		for i, s := range c.stores {
			if err := s.readCoded(rr); err != nil {
				return fmt.Errorf("side input %d: %w", i, err)
			}
		}
	}
	if !takeHeld {
		return nil
	}
	for range held {
		e, err := readElem(rr, ec)
		if err != nil {
			return fmt.Errorf("held elements: %w", err)
		}
		g := c.held[e.Window]
		if g == nil {
			g = &heldGroup[In]{min: e.Time}
			c.held[e.Window] = g
		}
		g.es = append(g.es, e)
		g.min = min(g.min, e.Time)
		c.nHeld++
	}
	return nil
}
