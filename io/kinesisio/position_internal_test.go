package kinesisio

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/stretchr/testify/require"
)

func TestPositionEncoding(t *testing.T) {
	tests := []struct {
		name  string
		p     startPoint
		bytes int
	}{
		{"sequence number", afterSeq("49680489454145957683321254858552591610069602332905046018"), 1 + 24},
		{"small sequence number", afterSeq("1"), 2},
		{"non-canonical sequence number kept as text", afterSeq("0042"), 5},
		{"timestamp", startPoint{kind: posAtTime, at: time.UnixMilli(1474482600123)}, 9},
		{"trim horizon", startPoint{kind: posTrimHorizon}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := appendPosition(nil, tc.p)
			require.Len(t, b, tc.bytes)
			got, err := parsePosition(b)
			require.NoError(t, err)
			require.Equal(t, tc.p.String(), got.String())
			require.Equal(t, tc.p.seq, got.seq)
			require.Equal(t, tc.p.at.UnixMilli(), got.at.UnixMilli())
		})
	}
}

func TestParsePositionErrors(t *testing.T) {
	tests := []struct {
		in   []byte
		want string
	}{
		{[]byte{}, "kinesisio: empty position"},
		{[]byte{1}, "kinesisio: malformed position 01: bad sequence number"},
		{[]byte{1, 0, 5}, "kinesisio: malformed position 010005: bad sequence number"},
		{[]byte{2}, "kinesisio: malformed position 02: empty sequence number"},
		{[]byte{3, 1, 2}, "kinesisio: malformed position 030102: timestamp is not 8 bytes"},
		{[]byte{4, 0}, "kinesisio: malformed position 0400: trailing bytes"},
		{[]byte{9}, "kinesisio: malformed position 09: unknown kind 9"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%x", tc.in), func(t *testing.T) {
			_, err := parsePosition(tc.in)
			require.EqualError(t, err, tc.want)
		})
	}
}

func TestClassify(t *testing.T) {
	msg := func(s string) *string { return &s }
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want errKind
	}{
		{"throughput", context.Background(), &types.ProvisionedThroughputExceededException{Message: msg("x")}, errThrottled},
		{"limit", context.Background(), &types.LimitExceededException{Message: msg("x")}, errThrottled},
		{"kms throttling", context.Background(), &types.KMSThrottlingException{Message: msg("x")}, errThrottled},
		{"expired", context.Background(), &types.ExpiredIteratorException{Message: msg("x")}, errExpired},
		{"not found", context.Background(), &types.ResourceNotFoundException{Message: msg("x")}, errNotFound},
		{"internal failure", context.Background(), &types.InternalFailureException{Message: msg("x")}, errTransient},
		{"invalid argument", context.Background(), &types.InvalidArgumentException{Message: msg("x")}, errFatal},
		{"connection refused", context.Background(), &net.OpError{Op: "dial", Err: errors.New("connection refused")}, errTransient},
		{"call timeout", context.Background(), fmt.Errorf("op: %w", context.DeadlineExceeded), errTransient},
		{"caller cancelled", cancelled, fmt.Errorf("op: %w", context.Canceled), errFatal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, classify(tc.ctx, tc.err))
		})
	}
}
