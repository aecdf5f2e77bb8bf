package kafkaio

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strconv"
)

// Position versions: the first byte of every position kafkaio encodes. Version 1 holds the next offset; version 2
// also the topic ID it belongs to, so that a position restored on a topic that was deleted and created again (a
// broker that lost its data) is refused instead of read at an unrelated offset.
const (
	positionVersion   = 1
	positionVersionID = 2
)

// encodePosition appends the position "next offset = off" of the topic with ID id: a version byte, the offset as
// a uvarint, then the 16-byte topic ID unless it is unknown (zero: brokers before Kafka 2.8).
func encodePosition(dst []byte, off int64, id [16]byte) []byte {
	if id == ([16]byte{}) {
		dst = append(dst[:0], positionVersion)
		return binary.AppendUvarint(dst, uint64(off))
	}
	dst = append(dst[:0], positionVersionID)
	dst = binary.AppendUvarint(dst, uint64(off))
	return append(dst, id[:]...)
}

// decodePosition returns the next offset a position holds and its topic ID (zero when it has none).
func decodePosition(pos []byte) (off int64, id [16]byte, err error) {
	if len(pos) < 2 || (pos[0] != positionVersion && pos[0] != positionVersionID) {
		return 0, id, fmt.Errorf("kafkaio: invalid position %x: not written by this version of kafkaio", pos)
	}
	rest := pos[1:]
	if pos[0] == positionVersionID {
		if len(rest) < 17 {
			return 0, id, fmt.Errorf("kafkaio: invalid position %x: bad topic ID", pos)
		}
		copy(id[:], rest[len(rest)-16:])
		rest = rest[:len(rest)-16]
	}
	u, n := binary.Uvarint(rest)
	if n <= 0 || n != len(rest) || u > 1<<62 {
		return 0, id, fmt.Errorf("kafkaio: invalid position %x: bad offset", pos)
	}
	return int64(u), id, nil
}

// DecodePosition returns the next offset of a position that a kafkaio split reader reported, for tools that
// inspect checkpoints.
func DecodePosition(pos []byte) (int64, error) {
	off, _, err := decodePosition(pos)
	return off, err
}

// EncodePosition returns the position of a split whose next record is at offset next, for tools that seed or
// edit checkpoints.
// The position holds no topic ID, so it is not checked against the topic's.
func EncodePosition(next int64) []byte { return encodePosition(nil, next, [16]byte{}) }

// formatTopicID formats a topic ID as Kafka's tools print it (URL-safe base64 without padding).
func formatTopicID(id [16]byte) string { return base64.RawURLEncoding.EncodeToString(id[:]) }

func parseSplitID(id string) (int32, error) {
	p, err := strconv.ParseInt(id, 10, 32)
	if err != nil || p < 0 || strconv.FormatInt(p, 10) != id {
		return 0, fmt.Errorf("kafkaio: invalid split ID %q: want a partition number", id)
	}
	return int32(p), nil
}

// PositionOffset returns the next offset a position of this source holds: with OffsetPosition, the hook that lets
// a runner keep a split's position as an offset range (runners/beam's splittable-DoFn restriction).
func (s *Source[T]) PositionOffset(pos []byte) (int64, error) { return DecodePosition(pos) }

// OffsetPosition returns the position of a split of this source whose next record is at offset next.
func (s *Source[T]) OffsetPosition(next int64) []byte { return EncodePosition(next) }
