// Package jobcli gives every kappa job binary the same command line: the same flags, the same signals and the
// same exit codes, so that one runbook operates them all.
//
//	fs := flag.NewFlagSet("myjob", flag.ContinueOnError)
//	job := jobcli.Register(fs, jobcli.Flags{Mode: "stream"}) // -mode, -checkpoint, -start-from, -workers, …
//	in := fs.String("in", "", "the job's own flags")
//	if err := jobcli.Parse(fs, os.Args[1:], job); err != nil {
//		jobcli.Exit("myjob", err) // a usage error naming the flag: exit status 2
//	}
//	cfg, err := job.Config(ctx)                 // local.Config: mode, workers, checkpoints, logger, metrics …
//	…
//	jobcli.Exit("myjob", job.Run(ctx, local.New(cfg), p)) // signals handled while the job runs
//
// # Flags
//
//	-mode batch|stream             the runner's mode
//	-checkpoint DIR|s3://B/P/      checkpoint there, and resume from the newest checkpoint found there
//	-start-from NAME|chk-N         start from a savepoint (its name, with or without "savepoint-") or a
//	                               retained checkpoint instead of the newest checkpoint (needs -checkpoint)
//	-allow-non-restored-state      let a restore drop the state of transforms the job no longer has
//	-epoch D                       time between epochs: sink commits and checkpoints (default the runner's)
//	-workers N                     parallel workers (default GOMAXPROCS)
//	-status HOST:PORT              the job's status page (graph, rates, lags, watermarks, checkpoints; JSON
//	                               under /api/v1/)
//	-metrics HOST:PORT             Prometheus metrics at http://HOST:PORT/metrics
//	-log-level debug|info|warn|error, -log-format text|json   structured logs (log/slog) on stderr
//	-progress                      progress lines on stderr
//	-s3-endpoint URL               S3-compatible endpoint for s3:// URLs (default $KAPPA_S3_ENDPOINT, else AWS)
//
// Every bad value and every combination that would be ignored is a usage error naming the flag, reported before
// anything runs.
//
// # Signals
//
// While Flags.Run runs the job:
//
//   - SIGTERM or SIGINT (Ctrl-C) stops the job at the end of the current micro-batch: the epoch is committed —
//     with -checkpoint a final checkpoint is written first — and the job exits with ExitStopped (3). Windows that
//     have not fired are not fired: their state is in the checkpoint, and a run started again with the same
//     -checkpoint resumes exactly there, nothing lost, nothing twice. A second SIGTERM or SIGINT aborts at once
//     (ExitAborted, 5): the micro-batch being read is abandoned and nothing of it is committed; a restart resumes
//     from the last checkpoint.
//   - SIGUSR1 takes a savepoint and the job goes on. Its name (UTC time, e.g. 20260102T150405Z) is printed on
//     stderr and logged; start a job from it with -start-from NAME.
//   - SIGUSR2 stops the job with a savepoint (Flink's stop-with-savepoint), for an upgrade: exit status 0.
//
// # Exit codes
//
//	0  ExitOK        the job finished: its input ended, it drained when idle, or it stopped with a savepoint
//	1  ExitFailure   the job failed; the newest checkpoint stands, and a restart resumes from it
//	2  ExitUsage     a bad flag (named in the message); nothing ran
//	3  ExitStopped   stopped by SIGTERM/SIGINT after committing its epoch (a final checkpoint with -checkpoint);
//	                 the input is not finished: start the job again to resume
//	4  ExitRestore   the checkpoint or savepoint to start from is missing, corrupt, of an unknown format, or
//	                 refused by the pipeline (state it would drop, changed state types); nothing was read
//	5  ExitAborted   a second SIGTERM/SIGINT abandoned the micro-batch in progress; restart to resume from the
//	                 last checkpoint
//
// docs/operations.md ("The job command line") is the operator's version of this page, with the kappa command
// (cmd/kappa) that lists and inspects checkpoints.
package jobcli
