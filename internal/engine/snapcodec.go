package engine

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/kappaflow/kappa/pipeline"
)

// Snapshot format 3. Snapshots written since format 3 encode keys with coder.KeyOf and accumulators, state cells
// and side-input elements with coder.Of — the encodings spilling uses — so every type that can spill can be
// checkpointed. (Formats 1 and 2 were gob streams; they are still read, see isCoderSnapshot.)
//
// A snapshot starts with snapMagic, then a header (its fields depend on the operator), then chunks: a chunk is a
// uvarint byte length and that many bytes of records; a chunk of length 0 ends the snapshot. Records never span
// chunks, so a reader needs memory for one chunk (about snapChunkBytes), not for the whole snapshot.

// snapMagic starts every coder snapshot. Its first byte, 0x80, cannot start a gob stream (gob would read it as a
// count of 128 bytes, more than any count gob writes), so a reader tells the formats apart by it.
var snapMagic = [4]byte{0x80, 'k', 's', 3}

// snapChunkBytes is the size past which a chunk is written out.
const snapChunkBytes = 64 << 10

// SnapshotFormat is the version of the snapshot encoding (recorded in checkpoint manifests as their format).
const SnapshotFormat = 3

// snapOut writes a coder snapshot.
type snapOut struct {
	w   io.Writer
	buf []byte // the chunk being filled
	hdr [binary.MaxVarintLen64]byte
}

func newSnapOut(w io.Writer, header []byte) (*snapOut, error) {
	so := &snapOut{w: w, buf: make([]byte, 0, snapChunkBytes+snapChunkBytes/4)}
	if _, err := w.Write(snapMagic[:]); err != nil {
		return nil, err
	}
	if err := so.chunk(header); err != nil {
		return nil, err
	}
	return so, nil
}

// chunk writes b as a chunk (length, then bytes).
func (so *snapOut) chunk(b []byte) error {
	n := binary.PutUvarint(so.hdr[:], uint64(len(b)))
	if _, err := so.w.Write(so.hdr[:n]); err != nil {
		return err
	}
	if len(b) == 0 {
		return nil
	}
	_, err := so.w.Write(b)
	return err
}

// recordDone writes the chunk out once it is large enough: call it after every record.
func (so *snapOut) recordDone() error {
	if len(so.buf) < snapChunkBytes {
		return nil
	}
	err := so.chunk(so.buf)
	so.buf = so.buf[:0]
	return err
}

// close writes the last chunk and the end mark.
func (so *snapOut) close() error {
	if len(so.buf) > 0 {
		if err := so.chunk(so.buf); err != nil {
			return err
		}
		so.buf = so.buf[:0]
	}
	return so.chunk(nil)
}

// isCoderSnapshot reports whether the snapshot in r is a coder snapshot (format 3), and returns a reader of all of
// it.
func isCoderSnapshot(r io.Reader) (bool, *bufio.Reader, error) {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	b, err := br.Peek(len(snapMagic))
	if err != nil && len(b) == 0 {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return false, br, err
	}
	if len(b) > 0 && b[0] != snapMagic[0] {
		return false, br, nil // a gob stream (formats 1 and 2)
	}
	if len(b) < len(snapMagic) || [4]byte(b) != snapMagic {
		return false, br, fmt.Errorf("not a kappa snapshot, or one of a snapshot format newer than %d (starts % x)", SnapshotFormat, b)
	}
	_, _ = br.Discard(len(snapMagic))
	return true, br, nil
}

// snapIn reads the chunks of a coder snapshot.
type snapIn struct {
	r   *bufio.Reader
	buf []byte
	off int64 // offset of the current chunk in the snapshot, for errors
	nxt int64
}

// next returns the next chunk, or nil at the end mark. The chunk is valid until the next call.
func (si *snapIn) next() ([]byte, error) {
	si.off = si.nxt
	n, err := binary.ReadUvarint(si.r)
	if err != nil {
		return nil, fmt.Errorf("chunk at byte %d: %w", si.off+int64(len(snapMagic)), unexpected(err))
	}
	if n == 0 {
		return nil, nil
	}
	if n > 1<<30 {
		return nil, fmt.Errorf("chunk at byte %d: length %d: corrupt snapshot", si.off+int64(len(snapMagic)), n)
	}
	if uint64(cap(si.buf)) < n {
		si.buf = make([]byte, n)
	}
	si.buf = si.buf[:n]
	if _, err := io.ReadFull(si.r, si.buf); err != nil {
		return nil, fmt.Errorf("chunk at byte %d: %w", si.off+int64(len(snapMagic)), unexpected(err))
	}
	si.nxt += int64(n) + int64(uvarintLen(n))
	return si.buf, nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func uvarintLen(n uint64) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], n)
}

// errCorrupt is wrapped by the errors of decoding a damaged coder snapshot.
var errCorrupt = errors.New("corrupt snapshot")

// dec reads the fields of a record from a chunk; the first error sticks (and later reads return zero values).
type dec struct {
	b    []byte
	i    int
	err  error
	last pipeline.Window // the window of the previous record (reduction snapshots)
}

func (d *dec) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%s at chunk byte %d: %w", what, d.i, errCorrupt)
	}
}

func (d *dec) byte1() byte {
	if d.err != nil || d.i >= len(d.b) {
		d.fail("truncated")
		return 0
	}
	c := d.b[d.i]
	d.i++
	return c
}

func (d *dec) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b[d.i:])
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.i += n
	return v
}

func (d *dec) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.i:])
	if n <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	d.i += n
	return v
}

// bytes returns a length-prefixed byte string (aliasing the chunk).
func (d *dec) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)-d.i) {
		d.fail("length beyond the chunk")
		return nil
	}
	b := d.b[d.i : d.i+int(n) : d.i+int(n)]
	d.i += int(n)
	return b
}

func (d *dec) str() string { return string(d.bytes()) }

func (d *dec) window() pipeline.Window {
	s := d.varint()
	e := d.varint()
	return pipeline.Window{Start: pipeline.Time(s), End: pipeline.Time(e)}
}

func (d *dec) more() bool { return d.err == nil && d.i < len(d.b) }

func appendWindow(b []byte, w pipeline.Window) []byte {
	return binary.AppendVarint(binary.AppendVarint(b, int64(w.Start)), int64(w.End))
}

func appendBytes(b, s []byte) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// appendValue appends a value encoded by enc, prefixed by its length.
func appendValue[T any](b []byte, enc func([]byte, T) ([]byte, error), v T) ([]byte, error) {
	start := len(b)
	b, err := enc(append(b, 0), v)
	if err != nil {
		return b[:start], err
	}
	return finishLen(b, start), nil
}

// finishLen writes the length of b[start+1:] as a uvarint at b[start], where one byte was reserved, moving the
// body when the length needs more.
func finishLen(b []byte, start int) []byte {
	n := len(b) - start - 1
	if n < 0x80 {
		b[start] = byte(n)
		return b
	}
	var hdr [binary.MaxVarintLen64]byte
	h := binary.PutUvarint(hdr[:], uint64(n))
	b = append(b, hdr[:h-1]...)
	copy(b[start+h:], b[start+1:start+1+n])
	copy(b[start:], hdr[:h])
	return b
}

// appendTime encodes a processing time (0 for the zero time, else 1, Unix seconds, nanoseconds).
func appendWallTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	b = append(b, 1)
	b = binary.AppendVarint(b, t.Unix())
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

func (d *dec) wallTime() time.Time {
	switch d.byte1() {
	case 0:
		return time.Time{}
	case 1:
		s := d.varint()
		ns := d.uvarint()
		if ns >= 1e9 {
			d.fail("bad time")
			return time.Time{}
		}
		return time.Unix(s, int64(ns))
	default:
		d.fail("bad time flag")
		return time.Time{}
	}
}

// appendTimers encodes a key's timers: count, then name, flags (domain, clear), event time, processing time.
func appendTimers(b []byte, ts map[string]TimerSpec) []byte {
	b = binary.AppendUvarint(b, uint64(len(ts)))
	for name, t := range ts {
		b = appendString(b, name)
		flags := byte(t.Domain) & 0x7f
		if t.Clear {
			flags |= 0x80
		}
		b = append(b, flags)
		b = binary.AppendVarint(b, int64(t.T))
		b = appendWallTime(b, t.PT)
	}
	return b
}

func (d *dec) timers() map[string]TimerSpec {
	n := d.uvarint()
	if d.err != nil || n == 0 {
		return nil
	}
	if n > uint64(len(d.b)-d.i) {
		d.fail("timer count beyond the chunk")
		return nil
	}
	ts := make(map[string]TimerSpec, n)
	for range n {
		name := d.str()
		flags := d.byte1()
		t := TimerSpec{Domain: TimeDomain(flags & 0x7f), Clear: flags&0x80 != 0}
		t.T = pipeline.Time(d.varint())
		t.PT = d.wallTime()
		if d.err != nil {
			return nil
		}
		ts[name] = t
	}
	return ts
}
