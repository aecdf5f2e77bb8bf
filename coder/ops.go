package coder

import (
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"unicode/utf8"
	"unsafe"
)

// An engine encodes and decodes the values of one type, given their address, as a list of ops: one per scalar,
// with nested structs and small arrays flattened into their parent's list, and one per pointer, slice, map,
// larger array or marshaler, which refers to its element's engine.
//
// encOps and decOps never let the address they are given escape: they only read and write through it, and
// hand callees the pointers loaded from it (a pointee, a slice's array, a map), which are on the heap. So a
// value passed to Coder.Append or decoded by Coder.Decode stays on the caller's stack, as escape analysis
// proves. Marshalers are the exception, since their methods get the value's address: lists that hold them
// directly ("mops") run with encOpsM and decOpsM, whose callers give them heap memory.
type engine struct {
	typ  reflect.Type
	size uintptr
	ops  []op
	// mops is set when ops hold marshalers directly (opMarshal, or opArray of such elements).
	mops bool
	// scalars is set when ops hold scalars only (encScalars runs them).
	scalars bool
	// minSize is the fewest bytes a value encodes to; 0 means the type encodes to nothing (it has a single
	// value, as struct{}), which bounds what decoding a count may allocate.
	minSize int
	// done is set when the engine is complete (recursive types refer to engines under construction).
	done bool
}

type opcode uint8

const (
	opBool    opcode = iota // one byte, 0 or 1
	opByte                  // int8, uint8: one byte
	opI16                   // zigzag varint, range-checked when decoding
	opI32                   //
	opI64                   // int64, and int on 64-bit platforms
	opU16                   // uvarint, range-checked when decoding
	opU32                   //
	opU64                   // uint64, uintptr, and uint on 64-bit platforms
	opF32                   // IEEE 754 bits, 4 bytes little-endian
	opF64                   // IEEE 754 bits, 8 bytes little-endian
	opKF32                  // keys: as opF32, with -0 as +0 and one NaN
	opKF64                  //
	opC64                   // real then imaginary part, as opF32
	opC128                  // as opF64
	opKC64                  // keys
	opKC128                 //
	opString                // uvarint length, bytes
	opBytes                 // []byte: uvarint length+1 (0 for nil), bytes
	opRaw                   // [n]byte: n bytes
	opPtr                   // 0 for nil, or 1 and the pointee (eng)
	opSlice                 // uvarint length+1 (0 for nil), the elements (eng)
	opArray                 // n elements (eng), for arrays not unrolled
	opMap                   // see encMap
	opMarshal               // uvarint length, the bytes of the type's MarshalBinary or AppendBinary
	opSub                   // while compiling only: a part by value whose engine was under construction
)

type op struct {
	code opcode
	n    int     // opRaw: bytes; opArray: elements
	off  uintptr // offset of the part in the engine's type
	eng  *engine // opPtr: the pointee's; opSlice, opArray: the element's; opSub: the part's
	x    *extra
	path string // the part's path in the engine's type, for errors
}

// extra holds what the ops of pointers, slices, maps and marshalers need besides their element's engine.
type extra struct {
	typ   reflect.Type               // opPtr: the pointee's type; opMap: the map type; opMarshal: the type
	alloc func(n int) unsafe.Pointer // opSlice: allocates an array of n elements
	min   int                        // opSlice: the element's minSize; opMap: the key's plus the value's
	kmin  int                        // opMap: the key's minSize
	key   *engine                    // opMap
	val   *engine                    // opMap
	etyp  unsafe.Pointer             // opMap: the map type's type word
	mtab  unsafe.Pointer             // opMarshal: method tables of *T for BinaryMarshaler,
	atab  unsafe.Pointer             // BinaryAppender (nil if not implemented)
	utab  unsafe.Pointer             // and BinaryUnmarshaler
}

// maxDepth bounds the nesting of pointers, slices, maps and marshalled values, so that a cyclic value fails to
// encode instead of overflowing the stack, and hostile input fails to decode.
const maxDepth = 10000

// encValue encodes the value at p, which may escape (heap memory: a pointee, an element, a map entry).
func encValue(dst []byte, p unsafe.Pointer, e *engine, depth int) ([]byte, error) {
	if e.mops {
		return encOpsM(dst, p, e.ops, depth)
	}
	return encOps(dst, p, e.ops, depth)
}

// decValue decodes into p, which may escape.
func decValue(b []byte, i int, p unsafe.Pointer, e *engine, depth int) (int, error) {
	if e.mops {
		return decOpsM(b, i, p, e.ops, depth)
	}
	return decOps(b, i, p, e.ops, depth)
}

// encOps runs ops without marshalers on the value at p, which does not escape.
func encOps(dst []byte, p unsafe.Pointer, ops []op, depth int) ([]byte, error) {
	for i := range ops {
		o := &ops[i]
		fp := unsafe.Add(p, o.off)
		switch o.code {
		case opBool:
			if *(*bool)(fp) {
				dst = append(dst, 1)
			} else {
				dst = append(dst, 0)
			}
		case opByte:
			dst = append(dst, *(*byte)(fp))
		case opI16:
			dst = binary.AppendVarint(dst, int64(*(*int16)(fp)))
		case opI32:
			dst = binary.AppendVarint(dst, int64(*(*int32)(fp)))
		case opI64:
			dst = binary.AppendVarint(dst, *(*int64)(fp))
		case opU16:
			dst = binary.AppendUvarint(dst, uint64(*(*uint16)(fp)))
		case opU32:
			dst = binary.AppendUvarint(dst, uint64(*(*uint32)(fp)))
		case opU64:
			dst = binary.AppendUvarint(dst, *(*uint64)(fp))
		case opF32:
			dst = binary.LittleEndian.AppendUint32(dst, *(*uint32)(fp))
		case opF64:
			dst = binary.LittleEndian.AppendUint64(dst, *(*uint64)(fp))
		case opKF32:
			dst = binary.LittleEndian.AppendUint32(dst, keyF32(*(*float32)(fp)))
		case opKF64:
			dst = binary.LittleEndian.AppendUint64(dst, keyF64(*(*float64)(fp)))
		case opC64:
			dst = binary.LittleEndian.AppendUint32(dst, *(*uint32)(fp))
			dst = binary.LittleEndian.AppendUint32(dst, *(*uint32)(unsafe.Add(fp, 4)))
		case opC128:
			dst = binary.LittleEndian.AppendUint64(dst, *(*uint64)(fp))
			dst = binary.LittleEndian.AppendUint64(dst, *(*uint64)(unsafe.Add(fp, 8)))
		case opKC64:
			dst = binary.LittleEndian.AppendUint32(dst, keyF32(*(*float32)(fp)))
			dst = binary.LittleEndian.AppendUint32(dst, keyF32(*(*float32)(unsafe.Add(fp, 4))))
		case opKC128:
			dst = binary.LittleEndian.AppendUint64(dst, keyF64(*(*float64)(fp)))
			dst = binary.LittleEndian.AppendUint64(dst, keyF64(*(*float64)(unsafe.Add(fp, 8))))
		case opString:
			s := *(*string)(fp)
			dst = binary.AppendUvarint(dst, uint64(len(s)))
			dst = append(dst, s...)
		case opBytes:
			s := *(*[]byte)(fp)
			if s == nil {
				dst = append(dst, 0)
				break
			}
			dst = binary.AppendUvarint(dst, uint64(len(s))+1)
			dst = append(dst, s...)
		case opRaw:
			dst = append(dst, unsafe.Slice((*byte)(fp), o.n)...)
		case opPtr:
			q := *(*unsafe.Pointer)(fp)
			if q == nil {
				dst = append(dst, 0)
				break
			}
			if depth >= maxDepth {
				return dst, atPath(errDepth, o.path)
			}
			var err error
			if dst, err = encValue(append(dst, 1), q, o.eng, depth+1); err != nil {
				return dst, atPath(err, o.path)
			}
		case opSlice:
			h := *(*sliceHeader)(fp)
			if h.data == nil {
				dst = append(dst, 0)
				break
			}
			if depth >= maxDepth {
				return dst, atPath(errDepth, o.path)
			}
			dst = binary.AppendUvarint(dst, uint64(h.len)+1)
			if o.x.min == 0 {
				break // the elements encode to nothing
			}
			var err error
			if dst, err = encElems(dst, h.data, h.len, o.eng, depth+1); err != nil {
				return dst, atPath(err, o.path)
			}
		case opMap:
			m := *(*unsafe.Pointer)(fp)
			if m == nil {
				dst = append(dst, 0)
				break
			}
			if depth >= maxDepth {
				return dst, atPath(errDepth, o.path)
			}
			var err error
			if dst, err = encMap(dst, m, o.x, depth+1); err != nil {
				return dst, atPath(err, o.path)
			}
		case opArray:
			el := o.eng
			for j := 0; j < o.n; j++ {
				var err error
				if dst, err = encOps(dst, unsafe.Add(fp, uintptr(j)*el.size), el.ops, depth); err != nil {
					return dst, atPath(atPath(err, fmt.Sprintf("[%d]", j)), o.path)
				}
			}
		}
	}
	return dst, nil
}

// scalarOps reports whether ops hold only scalars (bools, numbers, strings, byte arrays), which cannot fail to
// encode: encScalars runs them.
func scalarOps(ops []op) bool {
	for _, o := range ops {
		if o.code > opRaw || o.code == opBytes {
			return false
		}
	}
	return true
}

// encScalars runs scalar ops on the value at p (which does not escape): encOps without errors, for the common
// flat structs.
func encScalars(dst []byte, p unsafe.Pointer, ops []op) []byte {
	for i := range ops {
		o := &ops[i]
		fp := unsafe.Add(p, o.off)
		switch o.code {
		case opString:
			s := *(*string)(fp)
			dst = binary.AppendUvarint(dst, uint64(len(s)))
			dst = append(dst, s...)
		case opI64:
			dst = binary.AppendVarint(dst, *(*int64)(fp))
		case opU64:
			dst = binary.AppendUvarint(dst, *(*uint64)(fp))
		case opF64:
			dst = binary.LittleEndian.AppendUint64(dst, *(*uint64)(fp))
		case opBool:
			if *(*bool)(fp) {
				dst = append(dst, 1)
			} else {
				dst = append(dst, 0)
			}
		case opByte:
			dst = append(dst, *(*byte)(fp))
		case opI16:
			dst = binary.AppendVarint(dst, int64(*(*int16)(fp)))
		case opI32:
			dst = binary.AppendVarint(dst, int64(*(*int32)(fp)))
		case opU16:
			dst = binary.AppendUvarint(dst, uint64(*(*uint16)(fp)))
		case opU32:
			dst = binary.AppendUvarint(dst, uint64(*(*uint32)(fp)))
		case opF32:
			dst = binary.LittleEndian.AppendUint32(dst, *(*uint32)(fp))
		case opKF32:
			dst = binary.LittleEndian.AppendUint32(dst, keyF32(*(*float32)(fp)))
		case opKF64:
			dst = binary.LittleEndian.AppendUint64(dst, keyF64(*(*float64)(fp)))
		case opC64:
			dst = binary.LittleEndian.AppendUint32(dst, *(*uint32)(fp))
			dst = binary.LittleEndian.AppendUint32(dst, *(*uint32)(unsafe.Add(fp, 4)))
		case opC128:
			dst = binary.LittleEndian.AppendUint64(dst, *(*uint64)(fp))
			dst = binary.LittleEndian.AppendUint64(dst, *(*uint64)(unsafe.Add(fp, 8)))
		case opKC64:
			dst = binary.LittleEndian.AppendUint32(dst, keyF32(*(*float32)(fp)))
			dst = binary.LittleEndian.AppendUint32(dst, keyF32(*(*float32)(unsafe.Add(fp, 4))))
		case opKC128:
			dst = binary.LittleEndian.AppendUint64(dst, keyF64(*(*float64)(fp)))
			dst = binary.LittleEndian.AppendUint64(dst, keyF64(*(*float64)(unsafe.Add(fp, 8))))
		case opRaw:
			dst = append(dst, unsafe.Slice((*byte)(fp), o.n)...)
		}
	}
	return dst
}

// encOpsM runs ops with marshalers on the value at p, which escapes (the methods get its address).
func encOpsM(dst []byte, p unsafe.Pointer, ops []op, depth int) ([]byte, error) {
	for i := range ops {
		o := &ops[i]
		fp := unsafe.Add(p, o.off)
		var err error
		switch {
		case o.code == opMarshal:
			if dst, err = marshal(dst, fp, o.x, depth); err != nil {
				return dst, atPath(err, o.path)
			}
		case o.code == opArray && o.eng.mops:
			for j := 0; j < o.n; j++ {
				if dst, err = encOpsM(dst, unsafe.Add(fp, uintptr(j)*o.eng.size), o.eng.ops, depth); err != nil {
					return dst, atPath(atPath(err, fmt.Sprintf("[%d]", j)), o.path)
				}
			}
		default:
			if dst, err = encOps(dst, p, ops[i:i+1], depth); err != nil {
				return dst, err
			}
		}
	}
	return dst, nil
}

// encElems encodes n elements at data; the common scalar elements take a loop of their own.
func encElems(dst []byte, data unsafe.Pointer, n int, el *engine, depth int) ([]byte, error) {
	if ops := el.ops; !el.mops && len(ops) == 1 && ops[0].off == 0 {
		switch ops[0].code {
		case opI64:
			for _, v := range unsafe.Slice((*int64)(data), n) {
				dst = binary.AppendVarint(dst, v)
			}
			return dst, nil
		case opU64:
			for _, v := range unsafe.Slice((*uint64)(data), n) {
				dst = binary.AppendUvarint(dst, v)
			}
			return dst, nil
		case opF64:
			for _, v := range unsafe.Slice((*uint64)(data), n) {
				dst = binary.LittleEndian.AppendUint64(dst, v)
			}
			return dst, nil
		case opString:
			for _, v := range unsafe.Slice((*string)(data), n) {
				dst = binary.AppendUvarint(dst, uint64(len(v)))
				dst = append(dst, v...)
			}
			return dst, nil
		}
	}
	if el.scalars {
		for j := 0; j < n; j++ {
			dst = encScalars(dst, unsafe.Add(data, uintptr(j)*el.size), el.ops)
		}
		return dst, nil
	}
	for j := 0; j < n; j++ {
		var err error
		if dst, err = encValue(dst, unsafe.Add(data, uintptr(j)*el.size), el, depth); err != nil {
			return dst, atPath(err, fmt.Sprintf("[%d]", j))
		}
	}
	return dst, nil
}

// decOps runs ops without marshalers, decoding b[i:] into the value at p, which does not escape.
func decOps(b []byte, i int, p unsafe.Pointer, ops []op, depth int) (int, error) {
	for k := range ops {
		o := &ops[k]
		fp := unsafe.Add(p, o.off)
		switch o.code {
		case opBool:
			if i >= len(b) {
				return i, atPath(truncated(i), o.path)
			}
			switch b[i] {
			case 0:
				*(*bool)(fp) = false
			case 1:
				*(*bool)(fp) = true
			default:
				return i, atPath(malformed(i, "bool byte %d is neither 0 nor 1", b[i]), o.path)
			}
			i++
		case opByte:
			if i >= len(b) {
				return i, atPath(truncated(i), o.path)
			}
			*(*byte)(fp) = b[i]
			i++
		case opI16, opI32, opI64:
			x, n := binary.Varint(b[i:])
			if n <= 0 {
				return i, atPath(varintErr(b, i, n), o.path)
			}
			switch o.code {
			case opI16:
				if x < math.MinInt16 || x > math.MaxInt16 {
					return i, atPath(malformed(i, "%d is out of range for a 16-bit integer", x), o.path)
				}
				*(*int16)(fp) = int16(x)
			case opI32:
				if x < math.MinInt32 || x > math.MaxInt32 {
					return i, atPath(malformed(i, "%d is out of range for a 32-bit integer", x), o.path)
				}
				*(*int32)(fp) = int32(x)
			default:
				*(*int64)(fp) = x
			}
			i += n
		case opU16, opU32, opU64:
			x, n := binary.Uvarint(b[i:])
			if n <= 0 {
				return i, atPath(varintErr(b, i, n), o.path)
			}
			switch o.code {
			case opU16:
				if x > math.MaxUint16 {
					return i, atPath(malformed(i, "%d is out of range for a 16-bit unsigned integer", x), o.path)
				}
				*(*uint16)(fp) = uint16(x)
			case opU32:
				if x > math.MaxUint32 {
					return i, atPath(malformed(i, "%d is out of range for a 32-bit unsigned integer", x), o.path)
				}
				*(*uint32)(fp) = uint32(x)
			default:
				*(*uint64)(fp) = x
			}
			i += n
		case opF32, opKF32:
			if len(b)-i < 4 {
				return i, atPath(truncated(i), o.path)
			}
			*(*uint32)(fp) = binary.LittleEndian.Uint32(b[i:])
			i += 4
		case opF64, opKF64:
			if len(b)-i < 8 {
				return i, atPath(truncated(i), o.path)
			}
			*(*uint64)(fp) = binary.LittleEndian.Uint64(b[i:])
			i += 8
		case opC64, opKC64:
			if len(b)-i < 8 {
				return i, atPath(truncated(i), o.path)
			}
			*(*uint32)(fp) = binary.LittleEndian.Uint32(b[i:])
			*(*uint32)(unsafe.Add(fp, 4)) = binary.LittleEndian.Uint32(b[i+4:])
			i += 8
		case opC128, opKC128:
			if len(b)-i < 16 {
				return i, atPath(truncated(i), o.path)
			}
			*(*uint64)(fp) = binary.LittleEndian.Uint64(b[i:])
			*(*uint64)(unsafe.Add(fp, 8)) = binary.LittleEndian.Uint64(b[i+8:])
			i += 16
		case opString:
			n, j, err := readLen(b, i)
			if err != nil {
				return i, atPath(err, o.path)
			}
			*(*string)(fp) = string(b[j : j+n])
			i = j + n
		case opBytes:
			n, j, err := readCount(b, i, 1, 1)
			if err != nil {
				return i, atPath(err, o.path)
			}
			if n < 0 {
				*(*[]byte)(fp) = nil
				i = j
				break
			}
			s := make([]byte, n)
			copy(s, b[j:])
			*(*[]byte)(fp) = s
			i = j + n
		case opRaw:
			if len(b)-i < o.n {
				return i, atPath(truncated(i), o.path)
			}
			copy(unsafe.Slice((*byte)(fp), o.n), b[i:])
			i += o.n
		case opPtr:
			if i >= len(b) {
				return i, atPath(truncated(i), o.path)
			}
			switch b[i] {
			case 0:
				*(*unsafe.Pointer)(fp) = nil
				i++
				continue
			case 1:
			default:
				return i, atPath(malformed(i, "pointer flag %d is neither 0 (nil) nor 1", b[i]), o.path)
			}
			if depth >= maxDepth {
				return i, atPath(malformed(i, "nested more than %d deep", maxDepth), o.path)
			}
			q := reflect.New(o.x.typ).UnsafePointer()
			var err error
			if i, err = decValue(b, i+1, q, o.eng, depth+1); err != nil {
				return i, atPath(err, o.path)
			}
			*(*unsafe.Pointer)(fp) = q
		case opSlice:
			n, j, err := readCount(b, i, o.x.min, o.eng.size)
			if err != nil {
				return i, atPath(err, o.path)
			}
			if n < 0 {
				*(*sliceHeader)(fp) = sliceHeader{}
				i = j
				break
			}
			if depth >= maxDepth {
				return i, atPath(malformed(i, "nested more than %d deep", maxDepth), o.path)
			}
			data := o.x.alloc(n)
			if o.x.min > 0 {
				if j, err = decElems(b, j, data, n, o.eng, depth+1); err != nil {
					return j, atPath(err, o.path)
				}
			}
			*(*sliceHeader)(fp) = sliceHeader{data: data, len: n, cap: n}
			i = j
		case opMap:
			m, j, err := decMap(b, i, o.x, depth+1)
			if err != nil {
				return j, atPath(err, o.path)
			}
			*(*unsafe.Pointer)(fp) = m
			i = j
		case opArray:
			el := o.eng
			for j := 0; j < o.n; j++ {
				var err error
				if i, err = decOps(b, i, unsafe.Add(fp, uintptr(j)*el.size), el.ops, depth); err != nil {
					return i, atPath(atPath(err, fmt.Sprintf("[%d]", j)), o.path)
				}
			}
		}
	}
	return i, nil
}

// decOpsM runs ops with marshalers, decoding into the value at p, which escapes.
func decOpsM(b []byte, i int, p unsafe.Pointer, ops []op, depth int) (int, error) {
	for k := range ops {
		o := &ops[k]
		fp := unsafe.Add(p, o.off)
		var err error
		switch {
		case o.code == opMarshal:
			if i, err = unmarshal(b, i, fp, o.x, depth); err != nil {
				return i, atPath(err, o.path)
			}
		case o.code == opArray && o.eng.mops:
			for j := 0; j < o.n; j++ {
				if i, err = decOpsM(b, i, unsafe.Add(fp, uintptr(j)*o.eng.size), o.eng.ops, depth); err != nil {
					return i, atPath(atPath(err, fmt.Sprintf("[%d]", j)), o.path)
				}
			}
		default:
			if i, err = decOps(b, i, p, ops[k:k+1], depth); err != nil {
				return i, err
			}
		}
	}
	return i, nil
}

// decElems decodes n elements into data.
func decElems(b []byte, i int, data unsafe.Pointer, n int, el *engine, depth int) (int, error) {
	if ops := el.ops; !el.mops && len(ops) == 1 && ops[0].off == 0 && ops[0].code == opI64 {
		vs := unsafe.Slice((*int64)(data), n)
		for j := range vs {
			x, k := binary.Varint(b[i:])
			if k <= 0 {
				return i, atPath(varintErr(b, i, k), fmt.Sprintf("[%d]", j))
			}
			vs[j] = x
			i += k
		}
		return i, nil
	}
	for j := 0; j < n; j++ {
		var err error
		if i, err = decValue(b, i, unsafe.Add(data, uintptr(j)*el.size), el, depth); err != nil {
			return i, atPath(err, fmt.Sprintf("[%d]", j))
		}
	}
	return i, nil
}

// sliceHeader is the memory layout of a slice.
type sliceHeader struct {
	data unsafe.Pointer
	len  int
	cap  int
}

var (
	canonNaN32 = math.Float32bits(float32(math.NaN()))
	canonNaN64 = math.Float64bits(math.NaN())
)

func keyF32(f float32) uint32 {
	switch {
	case f == 0:
		return 0
	case f != f:
		return canonNaN32
	}
	return math.Float32bits(f)
}

func keyF64(f float64) uint64 {
	switch {
	case f == 0:
		return 0
	case f != f:
		return canonNaN64
	}
	return math.Float64bits(f)
}

// readLen reads a uvarint length at b[i:] and checks that that many bytes follow; it returns the length and the
// index of the first byte.
func readLen(b []byte, i int) (int, int, error) {
	x, n := binary.Uvarint(b[i:])
	if n <= 0 {
		return 0, i, varintErr(b, i, n)
	}
	if x > uint64(len(b)-i-n) {
		return 0, i, malformed(i, "length %d exceeds the %d bytes left", x, len(b)-i-n)
	}
	return int(x), i + n, nil
}

// maxEmpty bounds the count of a slice or map whose elements encode to nothing (zero-sized types such as
// struct{}, or types of blank fields only), and maxEmptyBytes the memory such a slice may take.
// maxAllocBytes bounds the memory of one decoded slice or map.
const (
	maxEmpty      = 1 << 31
	maxEmptyBytes = 1 << 26
	maxAllocBytes = 1 << 30
)

// readCount reads the uvarint count+1 of a slice or map at b[i:] (0 for nil, returned as -1) and checks that
// the bytes left can hold count elements of at least minSize bytes (each of size bytes in memory).
func readCount(b []byte, i int, minSize int, size uintptr) (int, int, error) {
	x, n := binary.Uvarint(b[i:])
	if n <= 0 {
		return 0, i, varintErr(b, i, n)
	}
	if x == 0 {
		return -1, i + n, nil
	}
	x--
	left := uint64(len(b) - i - n)
	if minSize > 0 {
		if x > left/uint64(minSize) {
			return 0, i, malformed(i, "count %d exceeds what the %d bytes left can hold", x, left)
		}
	} else if x > maxEmpty || (size > 0 && x > maxEmptyBytes/uint64(size)) {
		return 0, i, malformed(i, "count %d of empty elements is too large", x)
	}
	if size > 0 && x > maxAllocBytes/uint64(size) {
		return 0, i, malformed(i, "count %d of %d-byte elements exceeds the %d bytes one decoded slice may take", x, size, maxAllocBytes)
	}
	return int(x), i + n, nil
}

// decodeError is a decoding error: where in the input, and in which field.
type decodeError struct {
	off   int
	path  string
	msg   string
	cause error // a marshaler's error
}

func (e *decodeError) Error() string {
	if e.path != "" {
		return fmt.Sprintf("%s: field %s at byte %d: %s", ErrMalformed, e.path, e.off, e.msg)
	}
	return fmt.Sprintf("%s at byte %d: %s", ErrMalformed, e.off, e.msg)
}

func (e *decodeError) Unwrap() []error {
	if e.cause != nil {
		return []error{ErrMalformed, e.cause}
	}
	return []error{ErrMalformed}
}

func malformed(off int, format string, args ...any) error {
	return &decodeError{off: off, msg: fmt.Sprintf(format, args...)}
}

func truncated(off int) error { return &decodeError{off: off, msg: "truncated"} }

func varintErr(b []byte, i, n int) error {
	if n == 0 {
		return truncated(i)
	}
	if n > 0 {
		return malformed(i, "%d bytes left over after the value", len(b)-i-n)
	}
	return malformed(i, "varint overflows 64 bits")
}

// pathError is an encoding error inside a field (from a marshaler, or a value nested too deep).
type pathError struct {
	path string
	err  error
}

func (e *pathError) Error() string { return "field " + e.path + ": " + e.err.Error() }
func (e *pathError) Unwrap() error { return e.err }

// maxPath bounds the field paths of errors (deep values give long paths): the outermost part is kept.
const maxPath = 200

// atPath prefixes the error's field path with path.
func atPath(err error, path string) error {
	if path == "" {
		return err
	}
	switch e := err.(type) {
	case *decodeError:
		e.path = prefixPath(path, e.path)
		return e
	case *pathError:
		e.path = prefixPath(path, e.path)
		return e
	}
	return &pathError{path: path, err: err}
}

func prefixPath(a, b string) string {
	p := joinPath(a, b)
	if len(p) <= maxPath {
		return p
	}
	n := maxPath
	for n > 0 && !utf8.RuneStart(p[n]) {
		n--
	}
	return p[:n] + "…"
}

func joinPath(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	case b[0] == '[':
		return a + b
	}
	return a + "." + b
}

var errDepth = fmt.Errorf("value nested more than %d pointers, slices, maps or marshalled values deep (a cyclic value?)", maxDepth)
