// Package transforms holds kappa's transforms: element-wise (Map, FlatMap, Filter, ParDo with one to three typed
// outputs, MapErr and TryMap), keyed (KV, KeyBy, GroupByKey, CombinePerKey, CoGroupByKey, Join), global
// combinations (Combine) and the usual aggregations (Count, Sum, Min, Max, Mean, Top, Distinct,
// ApproxCountDistinct).
//
//	words := transforms.FlatMap(s, lines, strings.Fields)
//	counts := transforms.Count(s, words)                              // KV[string, int64] per word
//	byUser := transforms.KeyBy(s, clicks, func(c Click) string { return c.User })
//	perUser := transforms.CombinePerKey(s, byUser, transforms.CountFn[Click]{})
//	sessions := transforms.GroupByKey(s, windowing.Into(s, byUser, windowing.Sessions{Gap: 30 * time.Minute}))
//
// # Grouping per key and window
//
// GroupByKey, CombinePerKey, CoGroupByKey, Join and everything built on them group per key and window, following
// the Beam model: an element of a sliding window is counted in every window containing it, sessions merge per key
// (a merged session holds the union of its parts), and each result carries its window, the timestamp end of window
// minus 1 ms, and the pane (early, on-time or late) that produced it. When panes fire is the business of the
// windowing strategy (windowing.Into: triggers, allowed lateness, accumulation).
//
// # Combiners
//
// A Combiner (create, add, merge, extract) lets the runner aggregate on every worker before the shuffle: only one
// partial aggregate per key and window crosses it, so memory grows with the number of keys and windows, not with
// the input. Over sliding windows, combiners keep one partial aggregate per slice of time shared by the
// overlapping windows instead of a copy of each element per window. Write combiners as types (SumFn, CountFn,
// MeanFn, TopFn, ApproxCountDistinctFn are examples), with CombineFuncs, or with Binary for an associative,
// commutative function.
//
// # Failures
//
// A user function that returns an error or panics stops the run with an error naming the transform's scope path
// (and, for panics, the panic value and stack); TryMap routes failing elements to a dead-letter collection instead.
// Misuse at construction (nil functions, invalid collections, mismatched windowing) is reported by the runner
// before anything runs.
package transforms
