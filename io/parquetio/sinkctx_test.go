package parquetio_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/testsvc/s3test"
	"github.com/kappaflow/kappa/io/parquetio"
	"github.com/kappaflow/kappa/pipeline"
)

type ctxRow struct {
	K string `parquet:"k"`
	V int64  `parquet:"v"`
}

// A file opened by one Write call is finished by Prepare: the sink must use each call's context, not keep the
// (by then cancelled) context of the call that opened the file.
func TestSinkUsesEachCallsContext(t *testing.T) {
	srv := s3test.Start(t)
	sink, err := parquetio.NewSink(parquetio.WriteConfig[ctxRow]{URL: srv.URL("ctx/"), S3: srv.Config})
	require.NoError(t, err)
	w, err := sink.Open(context.Background(), pipeline.Shard{Index: 0, Count: 1})
	require.NoError(t, err)
	writeCtx, cancel := context.WithCancel(context.Background())
	require.NoError(t, w.Write(writeCtx, []pipeline.Element[ctxRow]{{Value: ctxRow{"a", 1}, Window: pipeline.GlobalWindow}}))
	cancel()
	tok, err := w.Prepare(context.Background(), pipeline.Epoch{ID: 0, Final: true})
	require.NoError(t, err)
	require.NoError(t, w.Commit(context.Background(), tok))
	require.NoError(t, w.Close(context.Background()))
}
