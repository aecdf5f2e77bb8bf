// Package engine holds the operators that execute kappa's transforms: the element-wise kernels (Map, Filter,
// ParDo, Flatten, Partition) every runner runs in its fused stages, and the keyed engine of the local runner —
// the windowed reduction behind GroupByKey, CombinePerKey and CoGroupByKey (reduce.go: per key and window panes,
// triggers in trigger.go, sessions, sliding-window slices in sliced.go), the stateful ParDo (stateful.go), their
// checkpoint snapshots (snapshot.go; the format, keys and values encoded with the coder package, in snapcodec.go;
// state cells in cells.go) and spilling to disk (spill.go).
//
// The transforms package builds these operators with the user's functions and puts them in the graph; runners
// drive them through the contracts of internal/exec. Nothing here is user API.
package engine
