package windowing_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/windowing"
)

func TestTriggers(t *testing.T) {
	tests := []struct {
		trig    windowing.Trigger
		str     string
		wantErr string
	}{
		{windowing.Default{}, "Default", ""},
		{windowing.AfterWatermark{}, "AfterWatermark()", ""},
		{windowing.AfterWatermark{Early: windowing.Every(10 * time.Second), Late: windowing.EveryN(1)},
			"AfterWatermark(early=AfterProcessingTime(10s), late=AfterCount(1))", ""},
		{windowing.AfterWatermark{Early: windowing.AfterCount{}}, "AfterWatermark(early=AfterCount(0))", "early: AfterCount: N=0 must be at least 1"},
		{windowing.AfterWatermark{Late: windowing.AfterProcessingTime{Delay: -time.Second}}, "AfterWatermark(late=AfterProcessingTime(-1s))",
			"late: AfterProcessingTime: negative delay -1s"},
		{windowing.AfterCount{N: 3}, "AfterCount(3)", ""},
		{windowing.AfterCount{N: -1}, "AfterCount(-1)", "AfterCount: N=-1 must be at least 1"},
		{windowing.AfterProcessingTime{}, "AfterProcessingTime(0s)", ""},
		{windowing.Repeatedly{Trigger: windowing.AfterCount{N: 2}}, "Repeatedly(AfterCount(2))", ""},
		{windowing.Repeatedly{}, "Repeatedly(<nil>)", "nil trigger"},
		{windowing.AfterAny{windowing.AfterCount{N: 3}, windowing.AfterProcessingTime{Delay: time.Second}}, "AfterAny(AfterCount(3), AfterProcessingTime(1s))", ""},
		{windowing.AfterAny{}, "AfterAny()", "composite trigger without sub-triggers"},
		{windowing.AfterAll{windowing.AfterCount{N: 3}, nil}, "AfterAll(AfterCount(3), <nil>)", "nil trigger"},
		{windowing.AfterAll{windowing.Repeatedly{Trigger: windowing.AfterCount{N: 0}}}, "AfterAll(Repeatedly(AfterCount(0)))", "AfterCount: N=0 must be at least 1"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.str, tt.trig.String())
		err := windowing.ValidateTrigger(tt.trig)
		if tt.wantErr == "" {
			require.NoError(t, err, tt.str)
		} else {
			require.EqualError(t, err, tt.wantErr, tt.str)
		}
	}
	require.EqualError(t, windowing.ValidateTrigger(nil), "nil trigger")
	require.Equal(t, windowing.AfterProcessingTime{Delay: time.Minute}, windowing.Every(time.Minute))
	require.Equal(t, windowing.AfterCount{N: 5}, windowing.EveryN(5))
}
