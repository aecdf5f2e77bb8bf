// Package coder holds kappa's element coders: they turn values into bytes and back where values leave a
// process's memory — collections at stage boundaries on runners that move elements between processes
// (runners/beam), spilled and checkpointed state, and grouping keys on runners that group by bytes.
//
// Of[T] returns the value coder of any encodable T; KeyOf[T] a key coder whose bytes are equal exactly when keys
// are (==); New wraps functions into a Coder; Slice encodes slices with an element coder; AppendLen and ReadLen
// concatenate encoded values.
//
// # How types are encoded
//
// Strings, int64, uint64 and float64 (named or not) take fast paths of their own. Every type is compiled once,
// with reflection, into a program of operations on field offsets (nested structs and small arrays flattened
// into their parent's; one operation per scalar, pointer, slice, map or marshaler), run per value through
// unsafe pointers: encoding and decoding a value makes no reflect call, except for map iteration and
// assignment, and for allocating the pointees, maps and (when their elements hold pointers other than strings,
// pointers, maps and slices) slice arrays of a decoded value, one call per allocation. Unexported struct
// fields are encoded like exported ones; blank (_) fields are skipped. The value stays on the caller's stack (the programs only read and write
// through its address, and escape analysis proves it), so appending to a buffer with room does not allocate,
// unless the type holds maps (iterated through reflect) or marshalers by value (whose methods get the value's
// address, so it moves to the heap: one allocation per call). Decoding allocates what the value holds (strings,
// slices, pointees, maps).
//
// A type whose pointer implements encoding.BinaryMarshaler and encoding.BinaryUnmarshaler (time.Time, netip.Addr,
// user types) is encoded by those methods, at any depth (encoding.BinaryAppender is used when implemented). A
// struct that gets the methods from an embedded field but has other fields is refused, since the promoted
// methods would encode the embedded field only, unless it declares both methods itself.
//
// Of refuses, with a *TypeError naming the type, the field path and the reason, types that hold functions,
// channels, unsafe pointers or interfaces: an interface's dynamic type cannot be recovered from the bytes, so
// a struct with an interface field must implement the marshaler methods itself, or the collection needs a
// coder made with New. Recursive types (type Node struct{ Next *Node }) are supported; values nested more than
// 10000 pointers, slices, maps or marshalled values deep (cyclic values) fail to encode, and such input fails
// to decode. Pointers are followed: two pointers to one value decode as two values.
//
// # Keys
//
// KeyOf encodes the key's fields (it does not call marshalers) and refuses key types that == compares by
// something the bytes cannot carry: pointers, channels and unsafe pointers (compared by address), interfaces
// (compared by dynamic type), and structs and arrays holding them — time.Time among them, as it holds a
// *time.Location. Floats are canonicalised: -0 encodes as +0 and every NaN as one NaN (so NaN keys, which
// never equal each other in a Go map, group together on runners that group by bytes).
//
// Coder.Deterministic reports that equal values encode to equal bytes: true for KeyOf's coders, and for Of's
// unless the type holds floats (-0 == +0 but their bits differ) or marshalers (their output is the user's).
// Maps are deterministic: their entries are sorted by encoded key.
//
// # Format (version 1, FormatVersion)
//
// The encoding of a value is the same whether it stands alone or is part of a larger value, and is
// self-delimiting; Decode requires that the bytes hold exactly one value. Little-endian throughout.
//
//	bool                      1 byte, 0 or 1 (anything else is an error)
//	int8, uint8               1 byte
//	int, int16, int32, int64  zigzag varint (encoding/binary.AppendVarint); decoding checks the type's range
//	uint…, uintptr            uvarint (encoding/binary.AppendUvarint); decoding checks the type's range
//	float32, float64          IEEE 754 bits, 4 or 8 bytes; keys: -0 as +0, NaN as 0x7ff8000000000001 (float32 0x7fc00000)
//	complex64, complex128     real part, then imaginary part, as floats
//	string                    uvarint byte length, bytes
//	[]byte                    uvarint length+1 (0 for nil), bytes
//	[N]T                      N elements ([N]byte: N bytes)
//	[]T                       uvarint length+1 (0 for nil), elements
//	map[K]V                   uvarint count+1 (0 for nil), then key, value for each entry, sorted by the key's
//	                          bytes (then the value's)
//	*T                        1 byte: 0 for nil, or 1 followed by the pointee
//	struct                    the fields in declaration order, blank fields skipped; no names or tags
//	marshaler                 uvarint length, then AppendBinary/MarshalBinary's bytes
//
// Coder.Name describes the type (for a named struct, its fields and their types), so a file that stores encoded
// values can store FormatVersion and the Name next to them and detect a change of either before decoding. The
// format is versioned: a change that decodes existing bytes differently increments FormatVersion, and the
// readers of checkpoints keep decoding the versions they support. Bytes carry no type information: decoding
// with a coder of another type fails or gives wrong values.
//
// Decoding never panics on malformed input: truncated bytes, bytes left over, invalid flags, lengths beyond the
// input and out-of-range integers return errors wrapping ErrMalformed, naming the field and the byte offset.
// Counts are checked against the bytes left before anything is allocated. Decoded values do not alias the input.
package coder
