package schemareg

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/kappaflow/kappa/pipeline"
)

// The reasons a record fails to decode or a value fails to encode; errors returned by the codecs match one of them
// (errors.Is) and say more. A registry that does not answer within the configured Timeout is ErrRegistry.
var (
	// ErrNotWireFormat: the bytes are not in the Confluent wire format (shorter than the 5-byte header, a first
	// byte other than the magic byte 0, a malformed Protobuf message-index array).
	ErrNotWireFormat = errors.New("not in the Schema Registry wire format")
	// ErrUnknownSchema: the registry does not know the schema id (404, error code 40403), or the subject or
	// version looked up for writing does not exist (40401, 40402).
	ErrUnknownSchema = errors.New("unknown schema")
	// ErrIncompatibleSchema: the writer schema cannot be read into the reader's type (Avro schema resolution
	// failed, another format, another Protobuf message), or the registry refused to register a schema (409).
	ErrIncompatibleSchema = errors.New("incompatible schema")
	// ErrUndecodable: the payload after the header does not decode with the writer schema (truncated or corrupt
	// Avro, invalid Protobuf, JSON that does not parse or validate), or a value does not encode with it.
	ErrUndecodable = errors.New("undecodable payload")
	// ErrRegistry: the registry failed (5xx, transport errors) for the whole Timeout, or answered an unexpected
	// error. It wraps pipeline.ErrUnavailable: a source fails on such a record rather than dead-lettering it.
	ErrRegistry error = registryError{}
)

// headerLen is the magic byte and the 4-byte schema id.
const headerLen = 5

// ParseHeader splits a record in the Confluent wire format into its schema id and the rest (for Protobuf, the
// message-index array followed by the message). The error matches ErrNotWireFormat and says why.
func ParseHeader(b []byte) (id int, rest []byte, err error) {
	if len(b) < headerLen {
		if len(b) == 0 {
			return 0, nil, fmt.Errorf("%w: empty value (a tombstone?), want the magic byte 0 and a 4-byte schema id", ErrNotWireFormat)
		}
		return 0, nil, fmt.Errorf("%w: %d bytes, want at least 5 (the magic byte 0 and a 4-byte schema id)", ErrNotWireFormat, len(b))
	}
	if b[0] != 0 {
		return 0, nil, fmt.Errorf("%w: first byte is 0x%02x, want the magic byte 0x00", ErrNotWireFormat, b[0])
	}
	return int(binary.BigEndian.Uint32(b[1:5])), b[5:], nil
}

// AppendHeader appends the magic byte and the schema id, big-endian, to dst.
func AppendHeader(dst []byte, id int) []byte {
	return append(dst, 0, byte(id>>24), byte(id>>16), byte(id>>8), byte(id))
}

// maxIndexDepth bounds the Protobuf message-index array (nesting depth of messages).
const maxIndexDepth = 64

// parseIndex reads the Protobuf message-index array: a zigzag varint count, then that many zigzag varints; a
// single 0 stands for [0].
func parseIndex(b []byte) ([]int, []byte, error) {
	n, k := binary.Varint(b)
	if k <= 0 {
		return nil, nil, fmt.Errorf("%w: Protobuf message-index count is truncated or malformed", ErrNotWireFormat)
	}
	b = b[k:]
	if n == 0 {
		return []int{0}, b, nil
	}
	if n < 0 || n > maxIndexDepth {
		return nil, nil, fmt.Errorf("%w: Protobuf message-index count %d is out of range [0, %d]", ErrNotWireFormat, n, maxIndexDepth)
	}
	idx := make([]int, n)
	for i := range idx {
		v, k := binary.Varint(b)
		if k <= 0 || v < 0 || v > 1<<30 {
			return nil, nil, fmt.Errorf("%w: Protobuf message index %d of %d is truncated or malformed", ErrNotWireFormat, i+1, n)
		}
		idx[i] = int(v)
		b = b[k:]
	}
	return idx, b, nil
}

// appendIndex appends a Protobuf message-index array ([0] as the single byte 0, as the Confluent serializers do).
func appendIndex(dst []byte, idx []int) []byte {
	if len(idx) == 1 && idx[0] == 0 {
		return append(dst, 0)
	}
	dst = binary.AppendVarint(dst, int64(len(idx)))
	for _, i := range idx {
		dst = binary.AppendVarint(dst, int64(i))
	}
	return dst
}

// registryError is ErrRegistry: its message, and pipeline.ErrUnavailable underneath.
type registryError struct{}

func (registryError) Error() string { return "schema registry request failed" }

func (registryError) Unwrap() error { return pipeline.ErrUnavailable }
