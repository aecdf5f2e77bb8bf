// Package refresh is a source that re-reads a slowly changing input — a Parquet file or folder, a CSV file,
// anything a function can load whole — every so often, for side inputs that must follow it without restarting
// the job (Beam's "slowly updating side input" pattern, Flink's periodically reloaded lookup cache).
//
//	rates := refresh.Read(s.Scope("rates"), refresh.Config[Rate]{
//		Name:  "/data/rates.csv",
//		Every: 5 * time.Minute,
//		Load: refresh.CSVLoad(refresh.CSVConfig[Rate]{URL: "/data/rates.csv", Decode: decodeRate}),
//	})
//	byCurrency := transforms.AsMap(s, transforms.KeyBy(s, rates, func(r Rate) string { return r.Currency }),
//		transforms.Snapshots())
//	priced := transforms.MapWithSide(s, orders, func(o Order, side transforms.Side) Priced { … }, byCurrency)
//
// # Snapshots and panes
//
// In stream mode the source loads at the start and then every Config.Every (processing time), and emits each
// load whole, as one pane of the global window whose pane index is the load's generation (0, 1, 2, … counting on
// across restarts from a checkpoint). A whole snapshot is one record of the source, turned into rows in the same
// micro-batch, so a view switches from one snapshot to the next between two micro-batches: no main element sees
// half of each. AsSingleton and AsIter keep the window's latest pane, so they follow the snapshots as they are.
// AsMap, AsMultiMap and AsTable keep each key's latest pane: give them transforms.Snapshots(), or a key deleted
// from the file stays in the view with its last value.
//
// A Load that returns no rows (stream mode) is a failed reload (ErrEmptySnapshot): a side input cannot tell an
// empty table from one not loaded yet, so the previous snapshot stays. Replace files atomically (write another
// file, then rename it over the old one): a Load that reads a file half written may see a valid prefix of it.
//
// In Bounded mode (batch runs) the source loads once and ends: every main element sees that snapshot, which is
// complete before any main element is processed.
//
// # Timestamps and watermark
//
// A snapshot's rows are stamped with the processing time at which the snapshot is emitted, in the global window.
// Between loads the source reports the processing time (minus 1 ms) as its watermark guarantee on every read, so
// it never holds back the watermark of the pipeline it feeds by more than a micro-batch: the watermark of a
// ParDoWithSide and of everything downstream is the minimum over its inputs' sources, and a source that reported
// nothing between two loads would stall the main input's event time for up to Every. The price: main inputs
// whose event times run ahead of the wall clock are held to it. Loads run in the background, so a slow load does
// not delay the micro-batches either.
//
// Results therefore depend on when the refreshes happened relative to the main input, not on event time alone:
// a main element sees the snapshot loaded last before its micro-batch. Re-running the same input does not give
// the same results unless the file did not change; a batch run sees one snapshot, the one loaded at its start.
//
// # Failures
//
// The first load of a job must succeed: without a snapshot, main elements would wait forever, so the run fails
// with the Load's error. A reload that fails (or returns no rows) keeps the previous snapshot; it is logged with
// the source's Name and the error and counted as a dead letter of the source — Stats().DeadLettered[Name] and the
// kappa_dead_letter_records{source=Name} metric in the local runner; ReadWithFailures returns them as a
// collection. The next attempt is Every after the failed one. With Config.MaxFailures = n, n failed reloads in a
// row fail the run. A run restored from a checkpoint has the snapshot the checkpoint holds, so its first reload
// may fail like any other.
//
// # Positions and checkpoints
//
// The source's position is the generation of the next snapshot. A run restored from a checkpoint gets the
// views' contents from the checkpoint and loads again at once (the input may have changed while the job was
// down), with the next generation, so the new snapshot supersedes the restored one.
package refresh
