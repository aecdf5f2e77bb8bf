package parquetio_test

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/w1"
	"github.com/kappaflow/kappa/io/parquetio"
	"github.com/kappaflow/kappa/pipeline"
)

// The sink commits in Beam's bundle finalization only without folder markers; otherwise it says which setting to
// change.
func TestSinkCommitsOnBundleFinalizationWithoutMarkers(t *testing.T) {
	tests := []struct {
		name, marker string
		final        bool
	}{
		{"default _SUCCESS markers", "", false},
		{"named markers", "_DONE", false},
		{"no markers", "-", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink, err := parquetio.NewSink(parquetio.WriteConfig[w1.Event]{URL: t.TempDir(), SuccessMarker: tt.marker})
			require.NoError(t, err)
			require.Equal(t, tt.final, sink.CommitsOnBundleFinalization())
			if tt.final {
				require.Empty(t, sink.NotFinalizedBecause())
				return
			}
			require.Contains(t, sink.NotFinalizedBecause(), `set WriteConfig.SuccessMarker to "-"`)
			// A writer prepared per bundle refuses to prepare rather than write markers it cannot place.
			w, err := sink.Open(context.Background(), pipeline.Shard{Index: 0, Count: 1, Bundles: true})
			require.NoError(t, err)
			require.NoError(t, w.Write(context.Background(), globalElems(events(0, 10))))
			_, err = w.Prepare(context.Background(), pipeline.Epoch{ID: 0, Watermark: pipeline.MinTime})
			require.ErrorContains(t, err, "prepared per runner bundle, but folder markers need kappa's epochs")
			require.NoError(t, w.Close(context.Background()))
		})
	}
}

// Writers opened per bundle (pipeline.Shard.Bundles, as runners/beam opens them) name their files by writer
// instance: two workers in different processes with the same shard index and bundle number do not overwrite each
// other; a bundle that failed after Prepare (its token never committed) publishes nothing, and its retry on
// another writer publishes the rows once however often its token is committed; the failed bundle's staged files
// are deleted once older than StagedTTL.
func TestSinkBundlesPublishOncePerCommittedBundle(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			cfg := parquetio.WriteConfig[w1.Event]{URL: b.URL("bundles/"), S3: b.s3, Logger: quiet, SuccessMarker: "-",
				StagedTTL: 50 * time.Millisecond}
			sink, err := parquetio.NewSink(cfg)
			require.NoError(t, err)
			bundle := pipeline.Epoch{ID: 0, Watermark: pipeline.MinTime}
			shard := pipeline.Shard{Index: 0, Count: 1, Bundles: true}
			prepare := func(vals []w1.Event) (pipeline.SinkWriter[w1.Event], []byte) {
				w, err := sink.Open(ctx, shard)
				require.NoError(t, err)
				require.NoError(t, w.Write(ctx, globalElems(vals)))
				tok, err := w.Prepare(ctx, bundle)
				require.NoError(t, err)
				return w, tok
			}

			// The bundle of events 0..99 fails after Prepare: its token is never committed.
			_, _ = prepare(events(0, 100))
			// Beam retries it on another worker (same shard index and bundle number), and commits it twice.
			retry, tok := prepare(events(0, 100))
			require.NoError(t, retry.Commit(ctx, tok))
			require.NoError(t, retry.Commit(ctx, tok), "committing a token again is a no-op")
			// Another worker's first bundle, with the same shard index and bundle number.
			other, tok2 := prepare(events(100, 50))
			require.NoError(t, other.Commit(ctx, tok2))
			empty, err := sink.Open(ctx, shard)
			require.NoError(t, err)
			tok3, err := empty.Prepare(ctx, bundle)
			require.NoError(t, err)
			require.Nil(t, tok3, "an empty bundle has nothing to commit")
			require.NoError(t, empty.Commit(ctx, tok3))

			src, err := parquetio.NewSource(parquetio.ReadConfig[w1.Event]{URL: b.URL("bundles/"), S3: b.s3, Logger: quiet})
			require.NoError(t, err)
			d, err := drain[w1.Event](t, src, pipeline.Limits{})
			require.NoError(t, err)
			got := d.values
			byAll := func(a, b w1.Event) int {
				return cmp.Or(cmp.Compare(a.Value, b.Value), strings.Compare(a.Key, b.Key), cmp.Compare(a.Time, b.Time))
			}
			slices.SortFunc(got, byAll)
			want := events(0, 150)
			slices.SortFunc(want, byAll)
			require.Equal(t, want, got, "each committed bundle's rows once; nothing of the failed bundle")
			var parts []string
			for _, k := range listKeys(t, b, "bundles/") {
				if !strings.HasPrefix(k, "bundles/_") {
					parts = append(parts, k)
				}
			}
			require.Len(t, parts, 2)
			require.NotEqual(t, parts[0], parts[1])
			require.Len(t, listKeys(t, b, "bundles/_staging/"), 1, "the failed bundle's staged file is left")

			// A later commit deletes staged files older than StagedTTL: the failed bundle's.
			time.Sleep(100 * time.Millisecond)
			late, tok4 := prepare(events(150, 10))
			require.NoError(t, late.Commit(ctx, tok4))
			require.Empty(t, listKeys(t, b, "bundles/_staging/"))
		})
	}
}
