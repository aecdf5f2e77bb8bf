package nexmark

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// javaRandom returns what java.util.Random returns for the same seed and calls (values printed by OpenJDK 17):
// nextInt(), nextInt(bound) for powers of two and others (rejection loop included), nextLong(), nextDouble() and
// Beam's LongGenerator beyond int range.
func TestJavaRandomMatchesJava(t *testing.T) {
	for _, tc := range []struct {
		seed  int64
		calls func(r *javaRandom) []any
		want  []any
	}{
		{seed: 0, calls: func(r *javaRandom) []any {
			return []any{r.nextInt(), r.nextIntN(10), r.nextIntN(1000000007), r.nextLong(), r.nextDouble(), r.nextIntN(16)}
		}, want: []any{int32(-1155484576), int32(8), int32(516548029), int64(-7261648964369397258), 0.3090505681997092, int32(1)}},
		{seed: -42, calls: func(r *javaRandom) []any {
			return []any{r.nextInt(), r.nextIntN(3), r.nextIntN(1<<31 - 1), r.nextLong(), r.nextDouble(), r.nextLongN(3000000000)}
		}, want: []any{int32(1170874531), int32(0), int32(130888552), int64(-5475790311413849495), 0.7862180522524824, int64(2548863619)}},
	} {
		r := newJavaRandom(tc.seed)
		require.Equal(t, tc.want, tc.calls(&r), "seed %d", tc.seed)
	}
}
