package kafkaio

import (
	"encoding/binary"
	"fmt"
	"strconv"
)

// positionVersion is the first byte of every position kafkaio encodes.
const positionVersion = 1

// encodePosition appends the position "next offset = off": a version byte and the offset as a uvarint (2 to 10
// bytes in all).
func encodePosition(dst []byte, off int64) []byte {
	dst = append(dst[:0], positionVersion)
	return binary.AppendUvarint(dst, uint64(off))
}

// decodePosition returns the next offset a position holds.
func decodePosition(pos []byte) (int64, error) {
	if len(pos) < 2 || pos[0] != positionVersion {
		return 0, fmt.Errorf("kafkaio: invalid position %x: not written by this version of kafkaio", pos)
	}
	off, n := binary.Uvarint(pos[1:])
	if n <= 0 || n != len(pos)-1 || off > 1<<62 {
		return 0, fmt.Errorf("kafkaio: invalid position %x: bad offset", pos)
	}
	return int64(off), nil
}

// DecodePosition returns the next offset of a position that a kafkaio split reader reported, for tools that
// inspect checkpoints.
func DecodePosition(pos []byte) (int64, error) { return decodePosition(pos) }

// EncodePosition returns the position of a split whose next record is at offset next, for tools that seed or
// edit checkpoints.
func EncodePosition(next int64) []byte { return encodePosition(nil, next) }

func parseSplitID(id string) (int32, error) {
	p, err := strconv.ParseInt(id, 10, 32)
	if err != nil || p < 0 || strconv.FormatInt(p, 10) != id {
		return 0, fmt.Errorf("kafkaio: invalid split ID %q: want a partition number", id)
	}
	return int32(p), nil
}
