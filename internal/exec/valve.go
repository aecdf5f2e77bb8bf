package exec

import "cmp"

// IdleValve combines the watermarks of a source's splits by the idleness rule every runner applies (Flink's
// StatusWatermarkValve, Beam KafkaIO's idle partitions): the minimum over the active splits, leaving out those
// idle for the source's IdleTimeout; when every split counted is idle, the maximum over them — nothing is
// arriving, so nothing can be late relative to what was seen. T is the runner's time type. The zero value is
// ready to use; Add each split that has not ended, then read Watermark.
type IdleValve[T cmp.Ordered] struct {
	low, high    T
	active, idle bool
}

// Add counts one split's watermark, idle or active.
func (v *IdleValve[T]) Add(wm T, idle bool) {
	if idle {
		if !v.idle || wm > v.high {
			v.high = wm
		}
		v.idle = true
		return
	}
	if !v.active || wm < v.low {
		v.low = wm
	}
	v.active = true
}

// Watermark returns the combined watermark. ok is false when no split was added (every split ended, or none is
// ready); allIdle is true when the watermark is the idle splits' maximum.
func (v *IdleValve[T]) Watermark() (wm T, ok, allIdle bool) {
	switch {
	case v.active:
		return v.low, true, false
	case v.idle:
		return v.high, true, true
	}
	return wm, false, false
}
