package exec

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestIdleValve(t *testing.T) {
	type split struct {
		wm   int64
		idle bool
	}
	for _, tc := range []struct {
		name        string
		splits      []split
		wm          int64
		ok, allIdle bool
	}{
		{name: "no split"},
		{name: "active only: the minimum", splits: []split{{30, false}, {10, false}, {20, false}}, wm: 10, ok: true},
		{name: "idle splits do not hold active ones back", splits: []split{{5, true}, {30, false}, {1, true}, {20, false}}, wm: 20, ok: true},
		{name: "every split idle: the maximum", splits: []split{{5, true}, {40, true}, {1, true}}, wm: 40, ok: true, allIdle: true},
		{name: "negative times", splits: []split{{-7, false}, {-3, false}}, wm: -7, ok: true},
		{name: "every split idle, negative times", splits: []split{{-7, true}, {-3, true}}, wm: -3, ok: true, allIdle: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v IdleValve[int64]
			for _, s := range tc.splits {
				v.Add(s.wm, s.idle)
			}
			wm, ok, allIdle := v.Watermark()
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.allIdle, allIdle)
			if tc.ok {
				require.Equal(t, tc.wm, wm)
			}
		})
	}
}
