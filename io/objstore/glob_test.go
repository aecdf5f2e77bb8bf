package objstore_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/io/objstore"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, key string
		want         bool
	}{
		{"events/*.parquet", "events/a.parquet", true},
		{"events/*.parquet", "events/dt=1/a.parquet", false},
		{"events/dt=2016-09-*/hour=1?/*", "events/dt=2016-09-21/hour=18/p.parquet", true},
		{"events/dt=2016-09-*/hour=1?/*", "events/dt=2016-09-21/hour=20/p.parquet", false},
		{"events/**/*.parquet", "events/a.parquet", true},
		{"events/**/*.parquet", "events/dt=1/hour=2/a.parquet", true},
		{"events/**", "events/x/y/z", true},
		{"events/**/x", "events/x/y", false},
		{"events/[ab]*", "events/b1", true},
		{"events/[ab]*", "events/c1", false},
	}
	for _, tc := range tests {
		got, err := objstore.Match(tc.pattern, tc.key)
		require.NoError(t, err)
		require.Equal(t, tc.want, got, "%s ~ %s", tc.pattern, tc.key)
	}
	_, err := objstore.Match("events/[a", "events/a")
	require.EqualError(t, err, `objstore: bad pattern "events/[a": syntax error in pattern`)
	require.Equal(t, "events/dt=2016-", objstore.LiteralPrefix("events/dt=2016-*/x"))
	require.Equal(t, "events/", objstore.LiteralPrefix("events/"))
	require.True(t, objstore.HasMeta("a/*"))
	require.False(t, objstore.HasMeta("a/b"))
}

func TestGlob(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			for _, k := range []string{"dt=2016-09-21/hour=18/a.parquet", "dt=2016-09-21/hour=18/_SUCCESS",
				"dt=2016-09-21/hour=19/a.parquet", "dt=2016-10-01/hour=00/a.parquet", "top.parquet"} {
				require.NoError(t, b.store.Put(ctx, b.base+k, []byte("x")))
			}
			tests := []struct {
				pattern string
				want    []string
			}{
				{"dt=2016-09-*/**/*.parquet", []string{"dt=2016-09-21/hour=18/a.parquet", "dt=2016-09-21/hour=19/a.parquet"}},
				{"*/hour=18/*", []string{"dt=2016-09-21/hour=18/_SUCCESS", "dt=2016-09-21/hour=18/a.parquet"}},
				{"**/*.parquet", []string{"dt=2016-09-21/hour=18/a.parquet", "dt=2016-09-21/hour=19/a.parquet", "dt=2016-10-01/hour=00/a.parquet", "top.parquet"}},
				{"dt=2016-10", []string{"dt=2016-10-01/hour=00/a.parquet"}},
				{"nothing/*", nil},
			}
			for _, tc := range tests {
				require.Equal(t, tc.want, keys(t, objstore.Glob(ctx, b.store, b.base+tc.pattern, objstore.ListOptions{PageSize: 2}), b.base), tc.pattern)
			}
			for _, err := range objstore.Glob(ctx, b.store, b.base+"[", objstore.ListOptions{}) {
				require.ErrorContains(t, err, "syntax error in pattern")
			}
		})
	}
}

func TestPartitions(t *testing.T) {
	tests := []struct {
		key  string
		want []objstore.Partition
	}{
		{"events/dt=2016-09-21/hour=18/part-0.parquet", []objstore.Partition{{"dt", "2016-09-21"}, {"hour", "18"}}},
		{"events/part-0.parquet", nil},
		{"a=1/plain/b=x%3Ay/f", []objstore.Partition{{"a", "1"}, {"b", "x:y"}}},
		{"dt=2016/file=not-a-folder", []objstore.Partition{{"dt", "2016"}}},
		{"=v/f", nil},
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, objstore.Partitions(tc.key), tc.key)
	}
	require.Equal(t, map[string]string{"dt": "2016-09-21", "hour": "18"}, objstore.PartitionMap("x/dt=2016-09-21/hour=18/f"))
}
