package engine

import (
	"bytes"
	"encoding/gob"
	"testing"

	"github.com/stretchr/testify/require"
)

// freshAcc is a cell type with unexported fields and a set (gob refuses it; the coder encodes it).
type freshAcc struct {
	n     int64
	users map[string]struct{}
}

// otherShape has the name of a type that changed its fields.
type otherShape struct{ n string }

// forget makes the process forget a cell type, as a process that restores before writing any value of it.
func forget[X any]() {
	cellCodecs.Delete((*X)(nil))
	cellsByName.Delete(cellTypeName[X]())
}

// Cells go through their encoding — one blob (the portable runner, spilled keys) — and decode boxed when the
// process knows their type; a process that has not written the type yet keeps the bytes until the cell is read
// with a type, and encodes them again unchanged meanwhile.
func TestCellsRoundTripAndLazyTypes(t *testing.T) {
	cells := map[string]any{}
	SetCell(cells, "acc", freshAcc{n: 3, users: map[string]struct{}{"a": {}, "b": {}}})
	SetCell(cells, "count", int64(7))
	SetCell(cells, "bag", []freshAcc{{n: 1}, {n: 2}})
	b, err := encodeCellsBlob(cells)
	require.NoError(t, err)

	got, err := decodeCellsBlob(b)
	require.NoError(t, err)
	v, ok := GetCell[freshAcc](got, "acc")
	require.True(t, ok)
	require.Equal(t, freshAcc{n: 3, users: map[string]struct{}{"a": {}, "b": {}}}, v)
	_, isBox := got["acc"].(*cellBox[freshAcc])
	require.True(t, isBox, "a known type decodes at once")

	forget[freshAcc]()
	forget[[]freshAcc]()
	got, err = decodeCellsBlob(b)
	require.NoError(t, err)
	require.IsType(t, &rawCell{}, got["acc"], "an unknown type stays encoded")
	again, err := encodeCellsBlob(got) // checkpointed again as it was
	require.NoError(t, err)
	got2, err := decodeCellsBlob(again)
	require.NoError(t, err)
	_, ok = GetCell[string](got2, "acc")
	require.False(t, ok, "a cell read with another type is empty")
	v, ok = GetCell[freshAcc](got2, "acc")
	require.True(t, ok)
	require.Equal(t, int64(3), v.n)
	require.Len(t, v.users, 2)
	bag, ok := GetCell[[]freshAcc](got2, "bag")
	require.True(t, ok)
	require.Equal(t, []freshAcc{{n: 1}, {n: 2}}, bag)
	n, ok := GetCell[int64](got2, "count")
	require.True(t, ok)
	require.Equal(t, int64(7), n)
}

// A restored cell whose type the process knows under its name but with other fields is refused, naming the cell
// and both shapes.
func TestCellShapeChangeRefused(t *testing.T) {
	cells := map[string]any{}
	SetCell(cells, "x", otherShape{n: "v"})
	b, err := encodeCellsBlob(cells)
	require.NoError(t, err)
	// Pretend the process's otherShape has other fields.
	forget[otherShape]()
	cc := codecOf[otherShape]()
	cc.info.shape = "struct engine.otherShape{n int64}"
	_, err = decodeCellsBlob(b)
	require.ErrorContains(t, err, `state cell "x"`)
	require.ErrorContains(t, err, "the type changed")
	forget[otherShape]()
}

// Cells of a portable state written with gob (before format 3) still decode, as plain values that GetCell boxes.
func TestCellsGobBlobStillDecodes(t *testing.T) {
	var buf bytes.Buffer
	old := map[string]any{"count": int64(5)}
	require.NoError(t, gob.NewEncoder(&buf).Encode(&old))
	got, err := decodeCellsBlob(buf.Bytes())
	require.NoError(t, err)
	n, ok := GetCell[int64](got, "count")
	require.True(t, ok)
	require.Equal(t, int64(5), n)
	b, err := encodeCellsBlob(got)
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(b, snapMagic[:]))
}

// A cell type the coder refuses is held in memory but not encoded: the error names the cell, the type and the
// field.
func TestRefusedCellType(t *testing.T) {
	type withFunc struct{ F func() }
	cells := map[string]any{}
	SetCell(cells, "f", withFunc{})
	v, ok := GetCell[withFunc](cells, "f")
	require.True(t, ok)
	require.Nil(t, v.F)
	require.Positive(t, refusedCells.Load())
	err := checkCells(cells)
	require.ErrorContains(t, err, `state cell "f"`)
	require.ErrorContains(t, err, "withFunc")
	require.ErrorContains(t, err, "field F")
	_, err = encodeCellsBlob(cells)
	require.ErrorContains(t, err, `state cell "f"`)
}

// A damaged snapshot is an error naming where, never a panic.
func TestCorruptCoderSnapshot(t *testing.T) {
	var buf bytes.Buffer
	so, err := newSnapOut(&buf, []byte{1, 2, 3})
	require.NoError(t, err)
	so.buf = append(so.buf, 9, 9, 9)
	require.NoError(t, so.close())
	whole := buf.Bytes()
	for cut := 1; cut < len(whole)-1; cut++ {
		ok, br, err := isCoderSnapshot(bytes.NewReader(whole[:cut]))
		if err != nil {
			continue
		}
		require.True(t, ok)
		si := &snapIn{r: br}
		for {
			b, err := si.next()
			if err != nil {
				require.ErrorContains(t, err, "chunk at byte")
				break
			}
			require.NotNil(t, b, "a truncated snapshot does not end cleanly (cut at %d)", cut)
		}
	}
	_, _, err = isCoderSnapshot(bytes.NewReader([]byte{0x80, 'k', 's', 9}))
	require.ErrorContains(t, err, "snapshot format newer than 3")
}

// gobOnly is a type the process never wrote as a cell: restored from a gob snapshot, it is encoded with gob until
// a state declaration reads it.
type gobOnly struct{ A, B int }

func TestPlainCellOfUnknownTypeStaysGob(t *testing.T) {
	gob.Register(gobOnly{})
	cells := map[string]any{"g": gobOnly{A: 1, B: 2}}
	b, err := encodeCellsBlob(cells)
	require.NoError(t, err)
	got, err := decodeCellsBlob(b)
	require.NoError(t, err)
	require.Equal(t, gobOnly{A: 1, B: 2}, got["g"])
	v, ok := GetCell[gobOnly](got, "g")
	require.True(t, ok)
	require.Equal(t, gobOnly{A: 1, B: 2}, v)
	_, isBox := got["g"].(*cellBox[gobOnly])
	require.True(t, isBox)
}
