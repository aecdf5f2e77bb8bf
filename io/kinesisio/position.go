package kinesisio

import (
	"encoding/binary"
	"fmt"
	"math/big"
	"time"
)

// A position is where a shard reader resumes. Its bytes, stored in kappa's checkpoints, are one kind byte and a
// payload:
//
//	1 + big-endian magnitude  after the sequence number (Kinesis sequence numbers are decimal integers of up to
//	                          ~56 digits; this takes ~24 bytes)
//	2 + text                  after the sequence number, kept as text (a number that is not canonical decimal)
//	3 + 8-byte big-endian ms  at the first record that arrived at or after the Unix time
//	4                         at the oldest record (TRIM_HORIZON)
const (
	posAfterSeq     byte = 1
	posAfterSeqText byte = 2
	posAtTime       byte = 3
	posTrimHorizon  byte = 4
)

// startPoint is a decoded position.
type startPoint struct {
	kind byte
	seq  string    // posAfterSeq, posAfterSeqText
	at   time.Time // posAtTime
}

func (p startPoint) String() string {
	switch p.kind {
	case posAfterSeq, posAfterSeqText:
		return "AFTER_SEQUENCE_NUMBER " + p.seq
	case posAtTime:
		return "AT_TIMESTAMP " + p.at.UTC().Format(time.RFC3339Nano)
	case posTrimHorizon:
		return "TRIM_HORIZON"
	}
	return fmt.Sprintf("position kind %d", p.kind)
}

// afterSeq is the position after sequence number seq.
func afterSeq(seq string) startPoint {
	var n big.Int
	if _, ok := n.SetString(seq, 10); ok && n.Sign() > 0 && n.String() == seq {
		return startPoint{kind: posAfterSeq, seq: seq}
	}
	return startPoint{kind: posAfterSeqText, seq: seq}
}

// appendPosition appends the encoding of p to b.
func appendPosition(b []byte, p startPoint) []byte {
	switch p.kind {
	case posAfterSeq:
		var n big.Int
		n.SetString(p.seq, 10)
		return append(append(b, posAfterSeq), n.Bytes()...)
	case posAfterSeqText:
		return append(append(b, posAfterSeqText), p.seq...)
	case posAtTime:
		return binary.BigEndian.AppendUint64(append(b, posAtTime), uint64(p.at.UnixMilli()))
	default:
		return append(b, posTrimHorizon)
	}
}

// parsePosition decodes a position.
func parsePosition(b []byte) (startPoint, error) {
	if len(b) == 0 {
		return startPoint{}, fmt.Errorf("kinesisio: empty position")
	}
	switch b[0] {
	case posAfterSeq:
		if len(b) < 2 || b[1] == 0 {
			return startPoint{}, fmt.Errorf("kinesisio: malformed position %x: bad sequence number", b)
		}
		return startPoint{kind: posAfterSeq, seq: new(big.Int).SetBytes(b[1:]).String()}, nil
	case posAfterSeqText:
		if len(b) < 2 {
			return startPoint{}, fmt.Errorf("kinesisio: malformed position %x: empty sequence number", b)
		}
		return startPoint{kind: posAfterSeqText, seq: string(b[1:])}, nil
	case posAtTime:
		if len(b) != 9 {
			return startPoint{}, fmt.Errorf("kinesisio: malformed position %x: timestamp is not 8 bytes", b)
		}
		return startPoint{kind: posAtTime, at: time.UnixMilli(int64(binary.BigEndian.Uint64(b[1:])))}, nil
	case posTrimHorizon:
		if len(b) != 1 {
			return startPoint{}, fmt.Errorf("kinesisio: malformed position %x: trailing bytes", b)
		}
		return startPoint{kind: posTrimHorizon}, nil
	}
	return startPoint{}, fmt.Errorf("kinesisio: malformed position %x: unknown kind %d", b, b[0])
}
