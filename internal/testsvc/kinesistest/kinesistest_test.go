package kinesistest_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/testsvc/kinesistest"
)

func iterator(t *testing.T, c *kinesis.Client, stream string) *string {
	t.Helper()
	it, err := c.GetShardIterator(context.Background(), &kinesis.GetShardIteratorInput{
		StreamName: aws.String(stream), ShardId: aws.String("shardId-000000000000"), ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
	})
	require.NoError(t, err)
	return it.ShardIterator
}

func TestServer(t *testing.T) {
	ctx := context.Background()
	srv := kinesistest.Start(t)
	c := srv.Client()
	srv.CreateStream(t, "s", 1)

	t.Run("put and get", func(t *testing.T) {
		_, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String("k"), Data: []byte("hello")})
		require.NoError(t, err)
		out, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iterator(t, c, "s")})
		require.NoError(t, err)
		require.Len(t, out.Records, 1)
		require.Equal(t, "hello", string(out.Records[0].Data))
	})

	t.Run("get records limit", func(t *testing.T) {
		srv.SetLimits(t, kinesistest.Limits{GetRecordsPerSecond: 2})
		defer srv.SetLimits(t, kinesistest.Limits{})
		before := srv.Stats(t)
		it := iterator(t, c, "s")
		var codes []string
		for range 3 {
			_, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it})
			var pe *types.ProvisionedThroughputExceededException
			switch {
			case err == nil:
				codes = append(codes, "ok")
			case errors.As(err, &pe):
				codes = append(codes, pe.ErrorCode()+": "+pe.ErrorMessage())
			default:
				t.Fatalf("GetRecords: %v", err)
			}
		}
		require.Equal(t, []string{"ok", "ok", "ProvisionedThroughputExceededException: Rate exceeded for shard shardId-000000000000 in stream s under account 000000000000."}, codes)
		require.Equal(t, 1, srv.Stats(t).ThrottledGetRecords-before.ThrottledGetRecords)
	})

	t.Run("put records limit", func(t *testing.T) {
		srv.CreateStream(t, "p", 1)
		srv.SetLimits(t, kinesistest.Limits{PutRecordsPerSecond: 3})
		defer srv.SetLimits(t, kinesistest.Limits{})
		var entries []types.PutRecordsRequestEntry
		for i := range 5 {
			entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String("k"), Data: fmt.Appendf(nil, "r%d", i)})
		}
		out, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("p"), Records: entries})
		require.NoError(t, err)
		// The second may have started between the calls; either way the last records of a second fail.
		require.Equal(t, int32(2), *out.FailedRecordCount)
		var codes []string
		for _, r := range out.Records {
			codes = append(codes, aws.ToString(r.ErrorCode))
		}
		require.Equal(t, []string{"", "", "", "ProvisionedThroughputExceededException", "ProvisionedThroughputExceededException"}, codes)
		got, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iterator(t, c, "p")})
		require.NoError(t, err)
		var data []string
		for _, r := range got.Records {
			data = append(data, string(r.Data))
		}
		require.Equal(t, []string{"r0", "r1", "r2"}, data, "failed entries are not stored")
	})

	t.Run("clock expires iterators", func(t *testing.T) {
		it := iterator(t, c, "s")
		srv.AdvanceClock(t, 301*time.Second)
		_, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it})
		var ee *types.ExpiredIteratorException
		require.ErrorAs(t, err, &ee)
		require.Equal(t, int64(301000), srv.Stats(t).ClockOffsetMs)
	})
}
