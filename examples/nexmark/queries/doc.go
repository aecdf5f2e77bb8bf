// Package queries holds the Nexmark queries q0–q8, q11 and q12 written with kappa's public API, as Beam's Java
// Nexmark suite defines them (sdks/java/testing/nexmark/.../queries): each is a function from the collection of
// nexmark.Event values to its results, using windows, combiners, joins, keyed state and timers, side outputs
// and triggers as the query needs.
//
//	events := nexmark.Read(s, src)
//	hot := queries.Q5(s, events, queries.DefaultParams(src.Generator()))  // PCollection[AuctionCount]
//
// Queries that need event time (q3–q8, q11) stop with an error wrapping ErrNoEventTime on an event without
// one. Where a query departs from Beam's, its documentation says how; examples/nexmark/README.md lists them.
// The tests compare every query, in batch and in stream mode with random micro-batches, with a plain Go
// implementation of its definition.
package queries
