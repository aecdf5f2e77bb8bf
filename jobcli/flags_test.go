package jobcli_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/jobcli"
	"github.com/kappaflow/kappa/runners/local"
)

func parse(args ...string) (*jobcli.Flags, error) {
	fs := flag.NewFlagSet("job", flag.ContinueOnError)
	fs.SetOutput(&bytes.Buffer{})
	f := jobcli.Register(fs, jobcli.Flags{})
	return f, jobcli.Parse(fs, args, f)
}

// Every bad value, stray argument and ignored combination is a usage error naming the flag, all at once.
func TestFlagsAreValidated(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"-mode", "fast"}, []string{`-mode "fast": want batch or stream`}},
		{[]string{"-workers", "-2"}, []string{"-workers -2: want a number ≥ 0"}},
		{[]string{"-epoch", "0"}, []string{"-epoch 0s: want a positive duration"}},
		{[]string{"-epoch", "-1s"}, []string{"-epoch -1s: want a positive duration"}},
		{[]string{"-start-from", "sp1"}, []string{"-start-from needs -checkpoint"}},
		{[]string{"-checkpoint", "/tmp/c", "-start-from", "a/b"}, []string{`-start-from "a/b": want a savepoint name or chk-EPOCH`}},
		{[]string{"-checkpoint", "/tmp/c", "-start-from", "savepoint-"}, []string{`-start-from "savepoint-"`}},
		{[]string{"-allow-non-restored-state"}, []string{"-allow-non-restored-state needs -checkpoint"}},
		{[]string{"-checkpoint", "gs://bucket/x"}, []string{`-checkpoint "gs://bucket/x"`, `unsupported scheme "gs"`}},
		{[]string{"-checkpoint", "s3:///x"}, []string{`-checkpoint "s3:///x"`, "no bucket"}},
		{[]string{"-metrics", "9464"}, []string{`-metrics "9464": want host:port`}},
		{[]string{"-status", "localhost"}, []string{`-status "localhost": want host:port`}},
		{[]string{"-status", "127.0.0.1:8080", "-metrics", "127.0.0.1:8080"}, []string{`-status and -metrics "127.0.0.1:8080": want two addresses`}},
		{[]string{"-log-level", "loud"}, []string{`-log-level "loud": want debug, info, warn or error`}},
		{[]string{"-log-format", "xml"}, []string{`-log-format "xml": want text or json`}},
		{[]string{"-s3-endpoint", "127.0.0.1:9100"}, []string{`-s3-endpoint "127.0.0.1:9100": want a URL like http://127.0.0.1:9100`}},
		{[]string{"extra"}, []string{`unexpected arguments ["extra"]`}},
		{[]string{"-no-such-flag"}, []string{"flag provided but not defined: -no-such-flag"}},
		{[]string{"-mode", "x", "-workers", "-1", "-log-format", "xml", "y"}, []string{"unexpected arguments", "-mode", "-workers -1", "-log-format"}}, // all at once
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, err := parse(tc.args...)
			var ue jobcli.UsageError
			require.True(t, errors.As(err, &ue), "%v is a usage error", err)
			require.Equal(t, jobcli.ExitUsage, jobcli.ExitCode(err))
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
	_, err := parse("-help")
	require.ErrorIs(t, err, flag.ErrHelp)
}

// Good flags become the runner's configuration.
func TestFlagsConfig(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args  []string
		check func(t *testing.T, cfg local.Config)
	}{
		{nil, func(t *testing.T, cfg local.Config) {
			require.Equal(t, local.Batch, cfg.Mode)
			require.Nil(t, cfg.Checkpoints)
			require.Zero(t, cfg.Workers)
			require.Nil(t, cfg.Progress)
		}},
		{[]string{"-mode", "stream", "-workers", "3", "-epoch", "2s", "-metrics", "127.0.0.1:0", "-progress", "-status", "127.0.0.1:0"}, func(t *testing.T, cfg local.Config) {
			require.Equal(t, local.Stream, cfg.Mode)
			require.Equal(t, "127.0.0.1:0", cfg.StatusAddr)
			require.Equal(t, 3, cfg.Workers)
			require.Equal(t, 2*time.Second, cfg.EpochInterval)
			require.Equal(t, "127.0.0.1:0", cfg.MetricsAddr)
			require.NotNil(t, cfg.Progress)
		}},
		{[]string{"-checkpoint", dir, "-start-from", "savepoint-v1", "-allow-non-restored-state"}, func(t *testing.T, cfg local.Config) {
			require.NotNil(t, cfg.Checkpoints)
			require.Equal(t, "v1", cfg.StartFrom, "savepoints are named without their prefix")
			require.True(t, cfg.AllowNonRestoredState)
		}},
		{[]string{"-checkpoint", dir, "-start-from", "chk-12"}, func(t *testing.T, cfg local.Config) {
			require.Equal(t, "chk-12", cfg.StartFrom)
			require.False(t, cfg.AllowNonRestoredState)
		}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			f, err := parse(tc.args...)
			require.NoError(t, err)
			cfg, err := f.Config(context.Background())
			require.NoError(t, err)
			tc.check(t, cfg)
		})
	}
}

// -log-level and -log-format shape the job's logger.
func TestLogger(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		want, not string
	}{
		{nil, `level=INFO msg=hello`, "debug"},
		{[]string{"-log-level", "warn"}, `level=WARN msg=careful`, "hello"},
		{[]string{"-log-format", "json", "-log-level", "debug"}, `{"time":`, "level=INFO"},
	} {
		f, err := parse(tc.args...)
		require.NoError(t, err)
		var buf bytes.Buffer
		f.Stderr = &buf
		l := f.Logger()
		l.Debug("debug")
		l.Info("hello")
		l.Warn("careful")
		require.Contains(t, buf.String(), tc.want)
		require.NotContains(t, buf.String(), tc.not)
		require.Equal(t, strings.Contains(buf.String(), `"msg":"debug"`), tc.args != nil && tc.args[0] == "-log-format")
	}
}

// Exit codes of the errors a run ends with.
func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
	}{
		{nil, jobcli.ExitOK},
		{errors.New("boom"), jobcli.ExitFailure},
		{jobcli.UsageError{Err: errors.New("-x")}, jobcli.ExitUsage},
		{jobcli.ErrStopped, jobcli.ExitStopped},
		{&local.RestoreError{Err: local.ErrNoCheckpoint}, jobcli.ExitRestore},
		{jobcli.ErrAborted, jobcli.ExitAborted},
	} {
		require.Equal(t, tc.code, jobcli.ExitCode(tc.err), "%v", tc.err)
	}
}
