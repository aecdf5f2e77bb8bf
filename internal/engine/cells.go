package engine

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kappaflow/kappa/coder"
	"github.com/kappaflow/kappa/pipeline"
)

// State cells. A stateful DoFn's cells (KeyContext.Cells) hold values of any type. The typed state of the
// transforms package writes them with SetCell, which boxes a value with the coder of its type (coder.Of), and
// reads them with GetCell. Checkpoints, spilled state and the portable runner's state encode a cell as its name,
// its type (the Go type's name and the coder's description of it, once per snapshot) and the value's coder bytes.
//
// A restore decodes a cell at once when its type is known to the process (some value of it was written since the
// process started), and otherwise keeps the bytes (a raw cell) until GetCell asks for the cell with a type: a
// restored process need not have written every state type before it restores. A raw cell that is never read is
// checkpointed again as it was.
//
// A type the coder refuses (a function, a channel, an interface …) can be held in memory, but a state that is
// checkpointed or spilled fails as soon as such a value is written (see stateConsumer.checkCells), naming the
// transform, the cell, the type and the field path.

// cellInfo describes a state cell type.
type cellInfo struct {
	name  string // the Go type, as %T writes it
	shape string // the coder's Name of the type (its fields): a restore refuses another shape under the name
	err   error  // the coder's refusal of the type (a *coder.TypeError), if any
	// decode decodes a value into a boxed cell.
	decode func(b []byte) (any, error)
	// encodeAny encodes a plain (unboxed) value of the type.
	encodeAny func(dst []byte, v any) ([]byte, error)
}

type cellCodec[X any] struct {
	info cellInfo
	c    coder.Coder[X]
}

// cellBox holds a cell's value with its coder.
type cellBox[X any] struct {
	v  X
	cc *cellCodec[X]
}

// boxed is implemented by the boxes of every type.
type boxed interface {
	cellType() *cellInfo
	appendValue(dst []byte) ([]byte, error)
}

func (b *cellBox[X]) cellType() *cellInfo { return &b.cc.info }

func (b *cellBox[X]) appendValue(dst []byte) ([]byte, error) {
	if b.cc.info.err != nil {
		return dst, b.cc.info.err
	}
	return b.cc.c.Append(dst, b.v)
}

// ExpireBefore passes Expiring on to the value.
func (b *cellBox[X]) ExpireBefore(wm pipeline.Time, now time.Time) bool {
	if e, ok := any(b.v).(Expiring); ok {
		return e.ExpireBefore(wm, now)
	}
	return false
}

// rawCell is a restored cell whose type the process did not know yet: its encoded value.
type rawCell struct {
	name, shape string
	b           []byte
}

var (
	cellCodecs  sync.Map // (*X)(nil) → *cellCodec[X]
	cellsByName sync.Map // type name → *cellInfo
	// refusedCells counts the cell types the coder refused: while it is 0, no written cell needs checking.
	refusedCells atomic.Int64
)

func cellTypeName[X any]() string {
	return fmt.Sprintf("%T", new(X))[1:]
}

// codecOf returns the cell codec of X, registering the type on first use.
func codecOf[X any]() *cellCodec[X] {
	if v, ok := cellCodecs.Load((*X)(nil)); ok {
		return v.(*cellCodec[X])
	}
	cc := &cellCodec[X]{}
	cc.info.name = cellTypeName[X]()
	c, err := coder.Of[X]()
	cc.c, cc.info.shape, cc.info.err = c, c.Name, err
	cc.info.decode = func(b []byte) (any, error) {
		x, err := cc.c.Decode(b)
		if err != nil {
			return nil, err
		}
		return &cellBox[X]{v: x, cc: cc}, nil
	}
	cc.info.encodeAny = func(dst []byte, v any) ([]byte, error) {
		x, ok := v.(X)
		if !ok {
			return dst, fmt.Errorf("a %T is not a %s", v, cc.info.name)
		}
		if cc.info.err != nil {
			return dst, cc.info.err
		}
		return cc.c.Append(dst, x)
	}
	registerGob[X]() // snapshots of formats 1 and 2 (gob) hold plain values of X
	v, loaded := cellCodecs.LoadOrStore((*X)(nil), cc)
	cc = v.(*cellCodec[X])
	if !loaded {
		if cc.info.err != nil {
			refusedCells.Add(1)
		} else {
			cellsByName.LoadOrStore(cc.info.name, &cc.info)
		}
	}
	return cc
}

// RegisterCell makes X known as a state cell type before any value of it is written (restores then decode cells
// of X at once), and returns the coder's refusal of X, if any.
func RegisterCell[X any]() error { return codecOf[X]().info.err }

// RegisterGob registers X as a state cell type (see RegisterCell; the name is kept for callers of the gob era).
func RegisterGob[T any]() { _ = RegisterCell[T]() }

var gobRegistered sync.Map

func registerGob[T any]() {
	if _, done := gobRegistered.LoadOrStore((*T)(nil), true); done {
		return
	}
	defer func() { _ = recover() }() // interface types cannot be registered; their dynamic values must be
	gob.Register(*new(T))
}

// SetCell stores x in the cell name.
func SetCell[X any](cells map[string]any, name string, x X) {
	if b, ok := cells[name].(*cellBox[X]); ok {
		b.v = x
		return
	}
	cells[name] = &cellBox[X]{v: x, cc: codecOf[X]()}
}

// GetCell returns the value of the cell name as an X, and whether it holds one (a cell written with another type
// reads as empty).
func GetCell[X any](cells map[string]any, name string) (X, bool) {
	v, ok := cells[name]
	if !ok {
		var zero X
		return zero, false
	}
	if b, ok := v.(*cellBox[X]); ok {
		return b.v, true
	}
	return getCellSlow[X](cells, name, v)
}

func getCellSlow[X any](cells map[string]any, name string, v any) (X, bool) {
	var zero X
	if r, ok := v.(*rawCell); ok {
		cc := codecOf[X]()
		if cc.info.err != nil || r.name != cc.info.name || r.shape != cc.info.shape {
			return zero, false
		}
		x, err := cc.c.Decode(r.b)
		if err != nil {
			return zero, false
		}
		cells[name] = &cellBox[X]{v: x, cc: cc}
		return x, true
	}
	if x, ok := v.(X); ok { // a plain value: restored from a gob snapshot, or stored directly
		cells[name] = &cellBox[X]{v: x, cc: codecOf[X]()}
		return x, true
	}
	return zero, false
}

// checkCells returns an error naming a cell of cells whose type the coder refuses.
func checkCells(cells map[string]any) error {
	for name, v := range cells {
		if b, ok := v.(boxed); ok {
			if t := b.cellType(); t.err != nil {
				return cellTypeError(name, t)
			}
		}
	}
	return nil
}

func cellTypeError(cell string, t *cellInfo) error {
	return fmt.Errorf("state cell %q holds a %s, which checkpoints and spilled state cannot encode (make the field "+
		"encodable, implement encoding.BinaryMarshaler and BinaryUnmarshaler on the type, or run without "+
		"Checkpoints and StateMemory): %w", cell, t.name, t.err)
}

// gobCellType is the type of cells holding plain values restored from a gob snapshot (formats 1 and 2) whose type
// the process has not written since: they are encoded with gob, as they were, until a state declaration reads or
// writes them (GetCell boxes them then).
var gobCellType = cellInfo{name: "gob", shape: "gob", decode: decodeGobCell}

type gobCell struct{ V any }

func encodeGobCell(dst []byte, v any) ([]byte, error) {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(gobCell{V: v}); err != nil {
		return dst, fmt.Errorf("a %T restored from a gob checkpoint: %w", v, err)
	}
	return append(dst, buf.Bytes()...), nil
}

func decodeGobCell(b []byte) (any, error) {
	var c gobCell
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&c); err != nil {
		return nil, err
	}
	return c.V, nil
}

// cellEnc encodes the cells of a stream of keys (a snapshot, a spilled key, a portable state): cell names and
// types are written once and referred to by number after.
type cellEnc struct {
	names map[string]uint64
	types map[*cellInfo]uint64
	raws  map[[2]string]uint64
	ntype uint64
}

// appendCells encodes cells: count, then per cell its name (a number, or 0 and the name the first time), its type
// (a number, or 0, the type name and the shape the first time) and its length-prefixed value.
func (ce *cellEnc) appendCells(b []byte, cells map[string]any) ([]byte, error) {
	if ce.names == nil {
		ce.names, ce.types = map[string]uint64{}, map[*cellInfo]uint64{}
	}
	b = binary.AppendUvarint(b, uint64(len(cells)))
	for name, v := range cells {
		if id, ok := ce.names[name]; ok {
			b = binary.AppendUvarint(b, id)
		} else {
			ce.names[name] = uint64(len(ce.names) + 1)
			b = appendString(append(b, 0), name)
		}
		var err error
		switch v := v.(type) {
		case boxed:
			t := v.cellType()
			if t.err != nil {
				return b, cellTypeError(name, t)
			}
			b = ce.typeRef(b, t)
			start := len(b)
			if b, err = v.appendValue(append(b, 0)); err == nil {
				b = finishLen(b, start)
			}
		case *rawCell:
			key := [2]string{v.name, v.shape}
			if ce.raws == nil {
				ce.raws = map[[2]string]uint64{}
			}
			if id, ok := ce.raws[key]; ok {
				b = binary.AppendUvarint(b, id)
			} else {
				ce.ntype++
				ce.raws[key] = ce.ntype
				b = appendString(appendString(append(b, 0), v.name), v.shape)
			}
			b = appendBytes(b, v.b)
		default:
			if iv, ok := cellsByName.Load(fmt.Sprintf("%T", v)); ok {
				t := iv.(*cellInfo)
				b = ce.typeRef(b, t)
				b, err = appendValue(b, t.encodeAny, any(v))
				break
			}
			// A plain value of a type this process has not written, restored from a gob snapshot: it stays gob.
			b = ce.typeRef(b, &gobCellType)
			b, err = appendValue(b, encodeGobCell, any(v))
		}
		if err != nil {
			return b, fmt.Errorf("state cell %q: %w", name, err)
		}
	}
	return b, nil
}

func (ce *cellEnc) typeRef(b []byte, t *cellInfo) []byte {
	if id, ok := ce.types[t]; ok {
		return binary.AppendUvarint(b, id)
	}
	key := [2]string{t.name, t.shape}
	if id, ok := ce.raws[key]; ok { // raw cells of the type came first
		ce.types[t] = id
		return binary.AppendUvarint(b, id)
	}
	ce.ntype++
	ce.types[t] = ce.ntype
	if ce.raws == nil {
		ce.raws = map[[2]string]uint64{}
	}
	ce.raws[key] = ce.ntype
	return appendString(appendString(append(b, 0), t.name), t.shape)
}

// cellDec decodes what a cellEnc encoded.
type cellDec struct {
	names []string
	types []*cellTypeRef
}

type cellTypeRef struct {
	name, shape string
	info        *cellInfo // nil while the process does not know the type
}

func (cd *cellDec) cells(d *dec) (map[string]any, error) {
	n := d.uvarint()
	if d.err != nil {
		return nil, d.err
	}
	if n > uint64(len(d.b)-d.i) {
		d.fail("cell count beyond the chunk")
		return nil, d.err
	}
	cells := make(map[string]any, n)
	for range n {
		var name string
		switch id := d.uvarint(); {
		case d.err != nil:
		case id == 0:
			name = d.str()
			cd.names = append(cd.names, name)
		case id <= uint64(len(cd.names)):
			name = cd.names[id-1]
		default:
			d.fail("unknown cell name")
		}
		var t *cellTypeRef
		switch id := d.uvarint(); {
		case d.err != nil:
		case id == 0:
			t = &cellTypeRef{name: d.str(), shape: d.str()}
			cd.types = append(cd.types, t)
		case id <= uint64(len(cd.types)):
			t = cd.types[id-1]
		default:
			d.fail("unknown cell type")
		}
		val := d.bytes()
		if d.err != nil {
			return nil, d.err
		}
		if t.info == nil {
			if t.name == gobCellType.name {
				t.info = &gobCellType
			} else if iv, ok := cellsByName.Load(t.name); ok {
				t.info = iv.(*cellInfo)
			}
		}
		if t.info == nil {
			cells[name] = &rawCell{name: t.name, shape: t.shape, b: append([]byte(nil), val...)}
			continue
		}
		if t.info.shape != t.shape {
			return nil, fmt.Errorf("state cell %q: the checkpoint holds a %s encoded as %s, but this program's %s is %s: "+
				"the type changed (give the state another name, or restore with the old type)", name, t.name, t.shape, t.name, t.info.shape)
		}
		v, err := t.info.decode(val)
		if err != nil {
			return nil, fmt.Errorf("state cell %q (%s): %w", name, t.name, err)
		}
		cells[name] = v
	}
	return cells, nil
}

// resolveRaw decodes the raw cells of cells whose type the process has come to know (for TTL expiry).
func resolveRaw(cells map[string]any) {
	for name, v := range cells {
		r, ok := v.(*rawCell)
		if !ok {
			continue
		}
		iv, ok := cellsByName.Load(r.name)
		if !ok || iv.(*cellInfo).shape != r.shape {
			continue
		}
		if x, err := iv.(*cellInfo).decode(r.b); err == nil {
			cells[name] = x
		}
	}
}

// cellsMagic starts the portable runner's encoded cells (format 3); older ones are gob.
var cellsMagic = snapMagic

// encodeCellsBlob encodes a key's cells on their own (the portable runner's state).
func encodeCellsBlob(cells map[string]any) ([]byte, error) {
	var ce cellEnc
	return ce.appendCells(append([]byte(nil), cellsMagic[:]...), cells)
}

// decodeCellsBlob decodes what encodeCellsBlob encoded, or a gob-encoded map of an older version.
func decodeCellsBlob(b []byte) (map[string]any, error) {
	if len(b) < len(cellsMagic) || [4]byte(b[:4]) != cellsMagic {
		return decodeGobCells(b)
	}
	d := &dec{b: b[len(cellsMagic):]}
	var cd cellDec
	cells, err := cd.cells(d)
	if err == nil && d.i != len(d.b) {
		err = fmt.Errorf("%d bytes left over after the cells: %w", len(d.b)-d.i, errCorrupt)
	}
	return cells, err
}
