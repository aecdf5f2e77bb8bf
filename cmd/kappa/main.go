package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/kappaflow/kappa/io/kafkaio"
	"github.com/kappaflow/kappa/io/objstore"
	"github.com/kappaflow/kappa/jobcli"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/runners/local"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage:
  kappa checkpoints [-s3-endpoint URL] [-json] LOCATION
  kappa inspect [-s3-endpoint URL] [-json] [-verify] LOCATION[/chk-EPOCH|/savepoint-NAME]

LOCATION is a job's -checkpoint folder or s3:// URL.
`

// run runs the command line args and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "checkpoints", "list", "ls":
		err = checkpointsCmd(ctx, args[1:], stdout, stderr)
	case "inspect":
		err = inspectCmd(ctx, args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		err = jobcli.UsageError{Err: fmt.Errorf("unknown command %q: want checkpoints or inspect", args[0])}
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	}
	fmt.Fprintln(stderr, "kappa:", err)
	if code := jobcli.ExitCode(err); code == jobcli.ExitUsage {
		fmt.Fprint(stderr, usage)
		return code
	}
	return 1
}

type common struct {
	s3Endpoint string
	json       bool
}

func (c *common) flags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("kappa "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.s3Endpoint, "s3-endpoint", "", "S3-compatible endpoint for s3:// locations, e.g. http://127.0.0.1:9100 (default $KAPPA_S3_ENDPOINT, else AWS)")
	fs.BoolVar(&c.json, "json", false, "print JSON")
	return fs
}

func (c *common) parse(fs *flag.FlagSet, args []string, want string) ([]string, error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, jobcli.UsageError{Err: err}
	}
	f := jobcli.Flags{S3Endpoint: c.s3Endpoint}
	if err := f.Validate(nil); err != nil {
		return nil, err
	}
	if fs.NArg() == 0 {
		return nil, jobcli.UsageError{Err: fmt.Errorf("%s: want %s", fs.Name(), want)}
	}
	return fs.Args(), nil
}

func (c *common) open(ctx context.Context, location string) (local.CheckpointStore, error) {
	f := jobcli.Flags{Checkpoint: location, S3Endpoint: c.s3Endpoint}
	if _, err := objstore.Parse(location); err != nil {
		return nil, jobcli.UsageError{Err: err}
	}
	st, err := f.CheckpointStore(ctx)
	if err != nil {
		return nil, err
	}
	return st, nil
}

// entry is a row of `kappa checkpoints`.
type entry struct {
	local.CheckpointInfo
	Created    time.Time `json:"created,omitzero"`
	Mode       string    `json:"mode,omitempty"`
	Workers    int       `json:"workers,omitempty"`
	StateBytes int64     `json:"state_bytes"`
	Newest     bool      `json:"newest,omitempty"` // the checkpoint a run restores
	StartFrom  string    `json:"start_from,omitempty"`
	Error      string    `json:"error,omitempty"`
}

func checkpointsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c common
	fs := c.flags("checkpoints", stderr)
	rest, err := c.parse(fs, args, "a LOCATION (a job's -checkpoint folder or s3:// URL)")
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return jobcli.UsageError{Err: fmt.Errorf("kappa checkpoints: want one LOCATION, got %q", rest)}
	}
	location := rest[0]
	st, err := c.open(ctx, location)
	if err != nil {
		return err
	}
	list, err := local.ListCheckpoints(ctx, st)
	if err != nil {
		return fmt.Errorf("%s: %w", location, err)
	}
	var rows []entry
	var bad []error
	newest := -1
	for _, ci := range list {
		e := entry{CheckpointInfo: ci, StartFrom: ci.Name}
		if ci.Savepoint {
			e.StartFrom = strings.TrimPrefix(ci.Name, "savepoint-")
		}
		if ci.Complete {
			m, err := local.ReadManifest(ctx, st, ci.Name)
			if err != nil {
				e.Error = err.Error()
				bad = append(bad, err)
			} else {
				e.Epoch, e.Created, e.Mode, e.Workers = m.Epoch, m.Created, m.Mode, m.Workers
				for _, s := range m.State {
					e.StateBytes += stateBytes(s)
				}
				if !ci.Savepoint {
					newest = len(rows)
				}
			}
		}
		rows = append(rows, e)
	}
	if newest >= 0 {
		rows[newest].Newest = true
	}
	if c.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if rows == nil {
			rows = []entry{}
		}
		if err := enc.Encode(rows); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "%s: %d checkpoints and savepoints\n", location, len(rows))
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tKIND\tEPOCH\tCREATED (UTC)\tMODE\tWORKERS\tSTATE\tNOTE")
		for _, e := range rows {
			kind := "checkpoint"
			if e.Savepoint {
				kind = "savepoint"
			}
			note := ""
			switch {
			case e.Error != "":
				note = "UNREADABLE: " + e.Error
			case !e.Complete:
				note = "incomplete (no manifest: being written, or abandoned by a crash); never restored"
			case e.Newest:
				note = "newest: a run restores it"
			case e.Savepoint:
				note = "start from it: -start-from " + e.StartFrom
			default:
				note = "retained: -start-from " + e.StartFrom
			}
			if !e.Complete || e.Error != "" {
				epoch := "-"
				if !e.Savepoint {
					epoch = fmt.Sprint(e.Epoch)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\t-\t-\t%s\n", e.Name, kind, epoch, note)
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%d\t%s\t%s\n", e.Name, kind, e.Epoch, e.Created.UTC().Format("2006-01-02 15:04:05"),
				e.Mode, e.Workers, bytesString(e.StateBytes), note)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return errors.Join(bad...)
}

func stateBytes(s local.StateManifest) int64 {
	var n int64
	for _, chain := range s.Chains {
		for _, o := range chain {
			n += o.Size
		}
	}
	return n
}

// splitLocation splits LOCATION/chk-N (or …/savepoint-NAME, …/meta.json) into the location and the name; a
// bare location gives an empty name.
func splitLocation(arg string) (location, name string) {
	a := strings.TrimSuffix(strings.TrimSuffix(arg, "/"), "/meta.json")
	dir, base := path.Split(a)
	if strings.HasPrefix(base, "chk-") || strings.HasPrefix(base, "savepoint-") {
		if dir == "" {
			dir = "."
		}
		return dir, base
	}
	return arg, ""
}

// inspection is what `kappa inspect -json` prints.
type inspection struct {
	Location  string               `json:"location"`
	Name      string               `json:"name"`
	Manifest  *local.Manifest      `json:"manifest"`
	Positions map[string][]posInfo `json:"positions"` // by source transform
	Verified  *int                 `json:"verified_objects,omitempty"`
}

type posInfo struct {
	Split    string `json:"split"`
	Position string `json:"position"`
}

func inspectCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c common
	fs := c.flags("inspect", stderr)
	verify := fs.Bool("verify", false, "also read every state object the manifest lists and check its size")
	rest, err := c.parse(fs, args, "LOCATION/chk-EPOCH, LOCATION/savepoint-NAME or LOCATION")
	if err != nil {
		return err
	}
	var location, name string
	switch len(rest) {
	case 1:
		location, name = splitLocation(rest[0])
	case 2:
		location, name = rest[0], rest[1]
	default:
		return jobcli.UsageError{Err: fmt.Errorf("kappa inspect: want LOCATION/chk-EPOCH or LOCATION NAME, got %q", rest)}
	}
	st, err := c.open(ctx, location)
	if err != nil {
		return err
	}
	what := ""
	if name == "" {
		list, err := local.ListCheckpoints(ctx, st)
		if err != nil {
			return fmt.Errorf("%s: %w", location, err)
		}
		for _, ci := range list {
			if !ci.Savepoint && ci.Complete {
				name = ci.Name
			}
		}
		if name == "" {
			return fmt.Errorf("%s: no complete checkpoint (kappa checkpoints %s lists what is there)", location, location)
		}
		what = " (the newest complete checkpoint: a run restores it)"
	}
	m, err := local.ReadManifest(ctx, st, name)
	if err != nil {
		return fmt.Errorf("%s: %w", location, err)
	}
	in := inspection{Location: location, Name: name, Manifest: m, Positions: map[string][]posInfo{}}
	for _, s := range m.Sources {
		for _, sp := range s.Splits {
			in.Positions[s.Transform] = append(in.Positions[s.Transform], posInfo{Split: sp.ID, Position: describePosition(s.Kind, sp)})
		}
	}
	var verr error
	if *verify {
		n, err := verifyObjects(ctx, st, m)
		in.Verified, verr = &n, err
	}
	if c.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(in); err != nil {
			return err
		}
		return verr
	}
	printInspection(stdout, in, what)
	if *verify && verr == nil {
		fmt.Fprintf(stdout, "\nverified: %d state objects present with the sizes the manifest lists\n", *in.Verified)
	}
	if verr != nil {
		return fmt.Errorf("%s/%s: %w", strings.TrimSuffix(location, "/"), name, verr)
	}
	return nil
}

func verifyObjects(ctx context.Context, st local.CheckpointStore, m *local.Manifest) (int, error) {
	var errs []error
	n := 0
	for _, s := range m.State {
		for _, chain := range s.Chains {
			for _, o := range chain {
				b, err := st.Get(ctx, o.Object)
				switch {
				case err != nil:
					errs = append(errs, fmt.Errorf("%s: state object %s: %w", s.Transform, o.Object, err))
				case int64(len(b)) != o.Size:
					errs = append(errs, fmt.Errorf("%s: state object %s has %d bytes, the manifest says %d", s.Transform, o.Object, len(b), o.Size))
				default:
					n++
				}
			}
		}
	}
	return n, errors.Join(errs...)
}

func printInspection(w io.Writer, in inspection, what string) {
	m := in.Manifest
	kind := "checkpoint"
	if strings.HasPrefix(in.Name, "savepoint-") {
		kind = "savepoint"
	}
	fmt.Fprintf(w, "%s %s in %s%s\n", kind, in.Name, in.Location, what)
	fmt.Fprintf(w, "  epoch %d (a run restored from it starts at epoch %d), created %s, mode %s, %d workers, format %d\n",
		m.Epoch, m.Epoch+1, m.Created.UTC().Format(time.RFC3339), m.Mode, m.Workers, m.Format)
	if kind == "savepoint" {
		fmt.Fprintf(w, "  start a job from it with -start-from %s\n", strings.TrimPrefix(in.Name, "savepoint-"))
	} else {
		fmt.Fprintf(w, "  start a job from it with -start-from %s\n", in.Name)
	}

	fmt.Fprintf(w, "\npipeline (%d transforms):\n", len(m.Pipeline))
	for _, l := range m.Pipeline {
		fmt.Fprintf(w, "  %s\n", l)
	}

	fmt.Fprintf(w, "\nsources (%d):\n", len(m.Sources))
	for _, s := range m.Sources {
		desc := s.Transform
		if s.Kind != "" {
			desc += "  " + s.Kind
		}
		fmt.Fprintf(w, "  %s  watermark %s\n", desc, timeString(s.Watermark))
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "    SPLIT\tPOSITION\tRECORDS\tBYTES\tMAX EVENT TIME\tSTATE")
		for i, sp := range s.Splits {
			state := "reading"
			switch {
			case sp.Done:
				state = "done"
			case !sp.Seen:
				state = "no record yet"
			}
			if len(sp.Parents) > 0 {
				state += " (after " + strings.Join(sp.Parents, ", ") + ")"
			}
			maxSeen := "-"
			if sp.Seen {
				maxSeen = timeString(sp.MaxSeen)
			}
			fmt.Fprintf(tw, "    %s\t%s\t%d\t%s\t%s\t%s\n", sp.ID, in.Positions[s.Transform][i].Position, sp.Records, bytesString(sp.Bytes), maxSeen, state)
		}
		tw.Flush()
	}

	var total int64
	for _, s := range m.State {
		total += stateBytes(s)
	}
	fmt.Fprintf(w, "\nkeyed state (%d transforms, %s a restore reads):\n", len(m.State), bytesString(total))
	for _, s := range m.State {
		var types []string
		for _, k := range slices.Sorted(maps.Keys(s.Types)) {
			types = append(types, k+"="+s.Types[k])
		}
		fmt.Fprintf(w, "  %s  %s  %s  %s\n", s.Transform, s.Kind, bytesString(stateBytes(s)), strings.Join(types, " "))
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "    WORKER\tCHAIN\tFULL\tDELTAS\tOBJECTS")
		for wi, chain := range s.Chains {
			var full, deltas int64
			var nd int
			var first string
			for _, o := range chain {
				if o.Full {
					full += o.Size
				} else {
					deltas += o.Size
					nd++
				}
				if first == "" {
					first = o.Object
				}
			}
			desc := fmt.Sprintf("full + %d deltas", nd)
			if len(chain) == 1 {
				desc = "full"
			}
			fmt.Fprintf(tw, "    %d\t%s\t%s\t%s\t%s…\n", wi, desc, bytesString(full), bytesString(deltas), first)
		}
		tw.Flush()
	}

	fmt.Fprintf(w, "\nsinks (%d):\n", len(m.Sinks))
	for _, s := range m.Sinks {
		fmt.Fprintf(w, "  %s  (%d shard tokens, committed again on restore)\n", s.Transform, len(s.Tokens))
		for i, tok := range s.Tokens {
			fmt.Fprintf(w, "    shard %d: %s\n", i, tokenString(tok))
		}
	}
}

// describePosition decodes the positions of kappa's connectors: Kafka offsets, generated indices, textual
// positions (Parquet row counts …); others are shown in hex.
func describePosition(kind string, sp local.SplitManifest) string {
	pos := sp.Pos
	switch {
	case pos == nil:
		return "start"
	case strings.Contains(kind, "kafka://"):
		if off, err := kafkaio.DecodePosition(pos); err == nil {
			return fmt.Sprintf("offset %d", off)
		}
	case strings.Contains(kind, "generate(") && len(pos) == 8:
		var n uint64
		for _, b := range pos {
			n = n<<8 | uint64(b)
		}
		return fmt.Sprintf("index %d", n)
	}
	if utf8.Valid(pos) && printable(pos) {
		return string(pos)
	}
	if len(pos) > 24 {
		return fmt.Sprintf("%x… (%d bytes)", pos[:24], len(pos))
	}
	return fmt.Sprintf("%x", pos)
}

func printable(b []byte) bool {
	for _, r := range string(b) {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return len(b) > 0
}

// tokenString shows a sink token: JSON tokens compactly (parquetio: files and rows), others by size.
func tokenString(tok []byte) string {
	var v struct {
		Epoch *uint64 `json:"epoch"`
		Files []struct {
			Final string `json:"final"`
			Rows  int64  `json:"rows"`
		} `json:"files"`
	}
	if len(tok) == 0 {
		return "empty"
	}
	if json.Valid(tok) {
		if err := json.Unmarshal(tok, &v); err == nil && v.Epoch != nil && v.Files != nil {
			var rows int64
			for _, f := range v.Files {
				rows += f.Rows
			}
			return fmt.Sprintf("epoch %d: %d files, %d rows", *v.Epoch, len(v.Files), rows)
		}
		s := string(tok)
		if len(s) > 100 {
			s = s[:100] + "…"
		}
		return s
	}
	if utf8.Valid(tok) && printable(tok) && len(tok) <= 100 {
		return string(tok)
	}
	return fmt.Sprintf("%d bytes", len(tok))
}

func timeString(t pipeline.Time) string {
	switch t {
	case pipeline.MinTime:
		return "-inf"
	case pipeline.MaxTime:
		return "+inf"
	}
	return t.Std().UTC().Format("2006-01-02T15:04:05.000Z")
}

func bytesString(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
