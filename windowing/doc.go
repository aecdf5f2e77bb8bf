// Package windowing says where in event time results are computed and when they are emitted: event times
// (WithTimestamps), window functions (Fixed, Sliding, Sessions, Global), triggers (AfterWatermark with early and
// late firings, AfterCount, AfterProcessingTime, Repeatedly, AfterAny, AfterAll), allowed lateness and the
// accumulation of panes.
//
//	timed := windowing.WithTimestamps(s, views, func(v PageView) time.Time { return v.At })
//	perMinute := windowing.Into(s, timed, windowing.Fixed{Size: time.Minute},
//		windowing.WithTrigger(windowing.AfterWatermark{Early: windowing.Every(10 * time.Second)}),
//		windowing.AllowedLateness(5*time.Minute))
//	counts := transforms.CountPerKey(s, transforms.KeyBy(s, perMinute, func(v PageView) string { return v.URL }))
//
// # Window functions
//
// Window functions are small comparable values. Fixed{Size, Offset} puts each element in one window aligned to
// the epoch plus Offset; Sliding{Size, Period, Offset} in every window of Size starting at a multiple of Period
// that contains it; Sessions{Gap} in a proto-session [t, t+Gap) that merges, per key, with the overlapping ones;
// Global in the single global window, which with the default trigger fires once, when the input ends.
//
// Into only records the strategy on the collection (and, for Fixed, Sessions and Global, stamps each element's
// window); the groupings downstream read it. Sliding windows are assigned lazily by the first transform that
// needs them, so that a combiner can share partial aggregates between overlapping windows.
//
// # Triggers and lateness
//
// The Default trigger emits one on-time pane per key and window when the watermark passes the end of the window,
// and a late pane for each micro-batch that brings data within the allowed lateness (default 0); data later than
// that is dropped and counted, or sent to a late-data output (transforms.LateDataTo).
package windowing
