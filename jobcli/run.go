package jobcli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/runners/local"
)

// Exit codes of job binaries (see the package documentation).
const (
	// ExitOK: the job finished — its input ended, it drained when idle, or it stopped with a savepoint (SIGUSR2).
	ExitOK = 0
	// ExitFailure: the job failed; the newest checkpoint stands and a restart resumes from it.
	ExitFailure = 1
	// ExitUsage: a bad flag or argument; nothing ran.
	ExitUsage = 2
	// ExitStopped: SIGTERM or SIGINT stopped the job after it committed its epoch (with a final checkpoint when
	// checkpointing); its input is not finished and a restart resumes where it stopped.
	ExitStopped = 3
	// ExitRestore: the checkpoint or savepoint to start from is missing, corrupt, of an unknown format or
	// refused by the pipeline; nothing was read.
	ExitRestore = 4
	// ExitAborted: a second SIGTERM or SIGINT abandoned the micro-batch in progress; a restart resumes from the
	// last checkpoint.
	ExitAborted = 5
)

// ErrStopped is returned (wrapped, naming the signal) by Flags.Run when SIGTERM or SIGINT stopped the job after
// its epoch was committed.
var ErrStopped = errors.New("stopped by a signal after committing the epoch in progress")

// ErrAborted is returned (wrapped) by Flags.Run when a second SIGTERM or SIGINT cancelled the run.
var ErrAborted = errors.New("aborted by a second signal: the micro-batch in progress was abandoned")

// ExitCode returns the exit status for the error a job ended with.
func ExitCode(err error) int {
	var ue UsageError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ue):
		return ExitUsage
	case errors.Is(err, ErrAborted):
		return ExitAborted
	case errors.Is(err, ErrStopped):
		return ExitStopped
	case local.IsRestoreError(err):
		return ExitRestore
	}
	return ExitFailure
}

// Exit ends the program with ExitCode(err), after printing err (prefixed by name) on stderr; a usage error also
// points at -help. flag.ErrHelp (the flag set printed the usage) exits with 0; nil exits with 0 silently.
func Exit(name string, err error) {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		os.Exit(ExitOK)
	}
	fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
	code := ExitCode(err)
	switch code {
	case ExitUsage:
		fmt.Fprintf(os.Stderr, "(%s -help lists the flags)\n", name)
	case ExitStopped:
		fmt.Fprintf(os.Stderr, "%s: start it again with the same -checkpoint to resume\n", name)
	}
	os.Exit(code)
}

// SavepointName is the name Run gives the savepoint it takes on SIGUSR1 or SIGUSR2 at t: the UTC time, e.g.
// "20260102T150405Z".
func SavepointName(t time.Time) string { return t.UTC().Format("20060102T150405Z") }

// Run runs p on r (built from Config) and handles the job signals until the run ends:
//
//   - SIGTERM, SIGINT: r.Stop — the epoch in progress is committed (a final checkpoint with -checkpoint) and Run
//     returns an error wrapping ErrStopped (ExitStopped). A second one cancels the run: the micro-batch in
//     progress is abandoned and Run returns an error wrapping ErrAborted (ExitAborted).
//   - SIGUSR1: r.Savepoint; the job goes on. SIGUSR2: r.StopWithSavepoint; Run returns nil.
//
// A savepoint's name (SavepointName) is printed on Stderr and logged. A signal that arrives while the run is
// starting (planning, restoring) or ending is served once the run can take it, or not at all if the run ends
// first: a run whose input ended returns nil even if SIGTERM came meanwhile.
func (f *Flags) Run(ctx context.Context, r *local.Runner, p *pipeline.Pipeline) error {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(sigs)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	log := f.Logger()
	done := make(chan error, 1)
	finished := make(chan struct{}) // closed when r.Run has returned
	go func() {
		err := r.Run(runCtx, p)
		close(finished)
		done <- err
	}()

	type result struct {
		sig  os.Signal
		name string // savepoint
		err  error
	}
	results := make(chan result, 8)
	pending := 0 // requests not answered yet
	// retry calls fn until the run takes the request (ErrNotRunning while it starts) or has ended.
	retry := func(fn func() error) error {
		for {
			err := fn()
			if !errors.Is(err, local.ErrNotRunning) {
				return err
			}
			select {
			case <-finished:
				return err
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	var terminating, stopped, aborted bool
	var stopSig os.Signal
	var lastName string
	handle := func(res result) {
		pending--
		switch {
		case res.err != nil && errors.Is(res.err, local.ErrNotRunning):
			log.Info("kappa: the run ended before it could serve the signal", "signal", res.sig.String())
		case res.err != nil && aborted:
		case res.err != nil:
			log.Error("kappa: signal not served", "signal", res.sig.String(), "err", res.err)
		case res.name != "":
			log.Info("kappa: savepoint written", "name", res.name, "location", f.Checkpoint)
			fmt.Fprintf(f.stderr(), "savepoint %s written to %s (start from it with -start-from %s)\n", res.name, f.Checkpoint, res.name)
		default:
			stopped = true
		}
	}
	for {
		select {
		case err := <-done:
			for pending > 0 { // answered at once now that the run has ended
				handle(<-results)
			}
			switch {
			case aborted && err != nil && errors.Is(err, context.Canceled):
				return fmt.Errorf("%w (%v)", ErrAborted, stopSig)
			case err != nil:
				return err
			case stopped:
				return fmt.Errorf("%w (%v)", ErrStopped, stopSig)
			}
			return nil
		case res := <-results:
			handle(res)
		case sig := <-sigs:
			switch sig {
			case syscall.SIGTERM, syscall.SIGINT:
				if terminating {
					log.Warn("kappa: second signal: aborting the run; the micro-batch in progress is abandoned", "signal", sig.String())
					aborted = true
					cancel()
					continue
				}
				terminating, stopSig = true, sig
				log.Info("kappa: stopping at the end of the micro-batch in progress (a second signal aborts)", "signal", sig.String(), "checkpoint", f.Checkpoint)
				pending++
				go func() { results <- result{sig: sig, err: retry(func() error { return r.Stop(runCtx) })} }()
			case syscall.SIGUSR1, syscall.SIGUSR2:
				if f.Checkpoint == "" {
					log.Error("kappa: savepoints need -checkpoint; signal ignored", "signal", sig.String())
					continue
				}
				name := SavepointName(time.Now())
				if name <= lastName { // two in the same second
					name = lastName + "-2"
				}
				lastName = name
				if sig == syscall.SIGUSR2 {
					log.Info("kappa: stopping with a savepoint", "name", name)
				} else {
					log.Info("kappa: taking a savepoint", "name", name)
				}
				pending++
				go func() {
					err := retry(func() error {
						if sig == syscall.SIGUSR2 {
							return r.StopWithSavepoint(runCtx, name)
						}
						return r.Savepoint(runCtx, name)
					})
					results <- result{sig: sig, name: name, err: err}
				}()
			}
		}
	}
}
