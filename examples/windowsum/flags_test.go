package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/w1"
	"github.com/kappaflow/kappa/jobcli"
)

// Every bad flag value, stray argument and ignored combination is a usage error naming the flag, before
// anything runs.
func TestFlagsAreValidated(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"-n", "-5"}, []string{"-n -5: want a number of events ≥ 1"}},
		{[]string{"-n", "0"}, []string{"-n 0: want a number of events ≥ 1"}},
		{[]string{"-workers", "-2"}, []string{"-workers -2: want a number ≥ 0"}},
		{[]string{"-splits", "-1"}, []string{"-splits -1: want a number ≥ 0"}},
		{[]string{"-batch", "-10"}, []string{"-batch -10: want a number ≥ 0"}},
		{[]string{"-state-memory", "-1"}, []string{"-state-memory -1: want a number ≥ 0"}},
		{[]string{"-epoch", "-1s"}, []string{"-epoch -1s: want a positive duration"}},
		{[]string{"-epoch", "0"}, []string{"-epoch 0s: want a positive duration"}},
		{[]string{"-wait", "-5ms"}, []string{"-wait -5ms: want a positive duration"}},
		{[]string{"-live", "-3", "-mode", "stream"}, []string{"-live -3: want events per second > 0"}},
		{[]string{"-live", "100"}, []string{"-live needs -mode stream"}},
		{[]string{"-mode", "fast"}, []string{`-mode "fast": want batch or stream`}},
		{[]string{"-window", "round"}, []string{`-window "round": want fixed, sliding or global`}},
		{[]string{"-n", "10", "extra", "args"}, []string{`unexpected arguments ["extra" "args"]`}},
		{[]string{"-from", "/tmp/x", "-publish", "kafka://127.0.0.1:9092/w1"}, []string{"-from with -publish or -write-parquet"}},
		{[]string{"-from", "/tmp/x", "-n", "5"}, []string{"-n: the events come from -from or -check-output"}},
		{[]string{"-publish", "kafka://127.0.0.1:9092/w1", "-to", "/tmp/rows"}, []string{"-to with -publish or -write-parquet"}},
		{[]string{"-check-output", "/tmp/rows", "-from", "/tmp/x"}, []string{"-check-output reads rows written by -to"}},
		{[]string{"-start-from", "sp1"}, []string{"-start-from needs -checkpoint"}},
		{[]string{"-dead-letters", "/tmp/dl"}, []string{"-dead-letters and -max-future-skew apply to input read with -from"}},
		{[]string{"-bench", "-from", "/tmp/x"}, []string{"-bench compares with W1 generated in memory"}},
		{[]string{"-from", "/tmp/x", "-splits", "3"}, []string{"-splits applies to generated events"}},
		{[]string{"-stop-idle", "2s"}, []string{"-idle and -stop-idle apply to -from kafka://"}},
		{[]string{"-metrics", "9464"}, []string{`-metrics "9464": want host:port`}},
		{[]string{"-n", "-1", "-workers", "-1", "x"}, []string{"unexpected arguments", "-n -1", "-workers -1"}}, // all at once
		{[]string{"-no-such-flag"}, []string{"flag provided but not defined: -no-such-flag"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stderr bytes.Buffer
			_, err := parseFlags(tc.args, &stderr)
			var ue usageError
			require.True(t, errors.As(err, &ue), "%v is a usage error", err)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
	o, err := parseFlags([]string{"-n", "1000", "-mode", "stream", "-batch", "100", "-workers", "2"}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, int64(1000), o.n)
	_, err = parseFlags([]string{"-from", "kafka://127.0.0.1:9092/w1", "-mode", "stream", "-stop-idle", "1s", "-idle", "2s", "-dead-letters", "/tmp/dl", "-max-future-skew", "1h"}, &bytes.Buffer{})
	require.NoError(t, err)
	_, err = parseFlags([]string{"-help"}, &bytes.Buffer{})
	require.ErrorIs(t, err, flag.ErrHelp)
	// Options built in code are checked too.
	require.ErrorContains(t, run(context.Background(), options{n: -5}, &bytes.Buffer{}), "-n -5")
}

// nullableW1 is W1's event with optional columns, as Spark or pandas write it.
type nullableW1 struct {
	Key   *string `parquet:"key"`
	Value *int64  `parquet:"value"`
	Time  *int64  `parquet:"time,timestamp(millisecond)"`
}

// -dead-letters writes unreadable input as JSON lines and the run goes on; the line counts them. Here: a file
// that is not Parquet, a null value, and (with -max-future-skew) an event stamped in 2099.
func TestDeadLettersFlag(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "events")
	require.NoError(t, os.MkdirAll(in, 0o755))
	const n = 10_000
	rows := make([]nullableW1, n)
	for i := range rows {
		e := w1.Gen(int64(i))
		rows[i] = nullableW1{Key: &e.Key, Value: &e.Value, Time: &e.Time}
	}
	rows[17].Value = nil
	future := time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	rows[5000].Time = &future
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[nullableW1](&buf)
	_, err := w.Write(rows)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	require.NoError(t, os.WriteFile(filepath.Join(in, "a.parquet"), buf.Bytes(), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(in, "b.parquet"), []byte("not parquet"), 0o644))

	// Without -dead-letters the first bad input stops the run, naming it.
	err = run(context.Background(), options{from: in, job: jobcli.Flags{Workers: 1}}, &bytes.Buffer{})
	require.ErrorContains(t, err, "b.parquet")

	dl := filepath.Join(dir, "dead.jsonl")
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), options{from: in, job: jobcli.Flags{Workers: 1}, deadLetters: dl, maxFutureSkew: time.Hour}, &out))
	require.Contains(t, out.String(), "events=9999 ", "the row with a null is not read")
	require.Contains(t, out.String(), " late_dropped=0 dead_letters=3 future=1")
	data, err := os.ReadFile(dl)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	require.Len(t, lines, 3)
	var got []string
	for _, l := range lines {
		var d deadLetterLine
		require.NoError(t, json.Unmarshal([]byte(l), &d))
		got = append(got, d.Location+": "+d.Error)
	}
	all := strings.Join(got, "\n")
	require.Contains(t, all, `a.parquet row group 0 row 17 column "value": null in a column whose field in T cannot hold null`)
	require.Contains(t, all, "b.parquet: not a Parquet file")
	require.Contains(t, all, "split "+in+"/a.parquet#rg=0: event time too far ahead of processing time: 2099-01-01T00:00:00.000Z")
}
