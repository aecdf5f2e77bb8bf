package schemareg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
)

// DefaultTimeout bounds each registry lookup, retries included, when the config does not.
const DefaultTimeout = 30 * time.Second

// unknownIDTTL is how long an id the registry answered 404 for is remembered: a run of records carrying it
// costs one request, and an id registered later (a restored registry) is seen within a minute.
const unknownIDTTL = time.Minute

// settings are the config fields every format shares, after defaults.
type settings struct {
	format     string        // "avro", "protobuf", "json schema": prefixes errors
	typ        sr.SchemaType // the schema type of the format
	subject    string        // the subject to register in or look up; "" when subjectErr says why not
	subjectErr error
	key        bool
	register   bool
	version    int // 0: latest
	timeout    time.Duration
	logger     *slog.Logger
	schema     sr.Schema // registered when register is set
}

func newSettings(format string, typ sr.SchemaType, strategy SubjectStrategy, topic, record string, key, register bool,
	version int, timeout time.Duration, logger *slog.Logger, schema string) (settings, error) {
	s := settings{format: format, typ: typ, key: key, register: register, version: version, timeout: timeout, logger: logger,
		schema: sr.Schema{Schema: schema, Type: typ}}
	if s.timeout < 0 {
		return s, fmt.Errorf("schemareg %s: Timeout must not be negative", format)
	}
	if s.timeout == 0 {
		s.timeout = DefaultTimeout
	}
	if s.version < 0 {
		return s, fmt.Errorf("schemareg %s: Version must not be negative (0 is the latest)", format)
	}
	if s.register && s.version != 0 {
		return s, fmt.Errorf("schemareg %s: Version is for looking schemas up; it cannot be set with Register", format)
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	s.subject, s.subjectErr = subjectOf(strategy, topic, record, key)
	if s.register && s.subjectErr != nil {
		return s, fmt.Errorf("schemareg %s: Register: %w", format, s.subjectErr)
	}
	return s, nil
}

// idEntry is what a writer schema id resolved to, once: a value or a lasting error.
type idEntry[E any] struct {
	id      int
	done    atomic.Bool   // set once val and err are set (lasting entries only)
	ready   chan struct{} // closed once val and err are set
	val     E
	err     error
	expires time.Time // zero: never (unknown ids expire)
}

// writerEntry is the schema an encoder writes with.
type writerEntry[W any] struct {
	id      int
	version int
	schema  sr.Schema
	val     W
}

// core holds the registry client and the caches of one codec: schema ids (what each writer schema resolves
// to, for decoding) and the subject's schema (for encoding). Reads of cached entries take no lock.
type core[E, W any] struct {
	settings
	client *sr.Client
	// loadID builds the decoding entry of a writer schema fetched by id; its error is cached with the id (the
	// schema of an id never changes).
	loadID func(id int, s sr.Schema) (E, error)
	// loadWriter builds the encoding state of the subject's schema.
	loadWriter func(id int, s sr.Schema) (W, error)

	ids    atomic.Pointer[map[int]*idEntry[E]] // copy on write under mu
	last   atomic.Pointer[idEntry[E]]          // the entry of the id looked up last: most topics carry one
	writer atomic.Pointer[writerEntry[W]]
	mu     sync.Mutex
	wmu    sync.Mutex // serialises writer resolution
}

func newCore[E, W any](client *sr.Client, s settings, loadID func(int, sr.Schema) (E, error), loadWriter func(int, sr.Schema) (W, error)) (*core[E, W], error) {
	if client == nil {
		return nil, fmt.Errorf("schemareg %s: nil registry client", s.format)
	}
	c := &core[E, W]{settings: s, client: client, loadID: loadID, loadWriter: loadWriter}
	m := map[int]*idEntry[E]{}
	c.ids.Store(&m)
	return c, nil
}

// byID returns the entry of a writer schema id, fetching the schema once (concurrent callers wait for the same
// fetch). Unknown ids are remembered for unknownIDTTL; registry failures are not remembered.
func (c *core[E, W]) byID(id int) (E, error) {
	if e := c.last.Load(); e != nil && e.id == id && e.done.Load() {
		return e.val, e.err
	}
	if e := (*c.ids.Load())[id]; e != nil && (e.expires.IsZero() || time.Now().Before(e.expires)) {
		<-e.ready
		if e.done.Load() {
			c.last.Store(e)
		}
		return e.val, e.err
	}
	c.mu.Lock()
	cur := *c.ids.Load()
	if e := cur[id]; e != nil && (e.expires.IsZero() || time.Now().Before(e.expires)) {
		c.mu.Unlock()
		<-e.ready
		return e.val, e.err
	}
	e := &idEntry[E]{id: id, ready: make(chan struct{})}
	c.store(cur, id, e)
	c.mu.Unlock()

	keep := true
	s, err := c.fetchID(id)
	if err == nil {
		e.val, err = c.loadID(id, s)
	}
	switch {
	case errors.Is(err, ErrRegistry):
		keep = false // try again with the next record
	case errors.Is(err, ErrUnknownSchema):
		e.expires = time.Now().Add(unknownIDTTL)
	}
	e.err = err
	if keep && e.expires.IsZero() {
		e.done.Store(true)
		c.last.Store(e)
	}
	close(e.ready)
	if !keep {
		c.mu.Lock()
		if cur := *c.ids.Load(); cur[id] == e {
			c.store(cur, id, nil)
		}
		c.mu.Unlock()
	}
	return e.val, e.err
}

// store publishes a copy of cur with id set to e (deleted when e is nil); mu is held.
func (c *core[E, W]) store(cur map[int]*idEntry[E], id int, e *idEntry[E]) {
	next := make(map[int]*idEntry[E], len(cur)+1)
	for k, v := range cur {
		next[k] = v
	}
	if e == nil {
		delete(next, id)
	} else {
		next[id] = e
	}
	c.ids.Store(&next)
}

func (c *core[E, W]) fetchID(id int) (sr.Schema, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	var s sr.Schema
	err := c.retry(ctx, fmt.Sprintf("GET /schemas/ids/%d", id), func(ctx context.Context) (err error) {
		s, err = c.client.SchemaByID(ctx, id)
		return err
	})
	if err != nil {
		if re := responseError(err); re != nil && !errors.Is(err, ErrRegistry) && (re.ErrorCode == sr.ErrSchemaNotFound.Code || re.StatusCode == http.StatusNotFound) {
			return s, fmt.Errorf("schema id %d: %w: the registry answered %s", id, ErrUnknownSchema, describe(re))
		}
		return s, fmt.Errorf("schema id %d: %w", id, registryErr(err))
	}
	return s, nil
}

// writerNow is writerSchema for callers without a context (Encode): bounded by Timeout.
func (c *core[E, W]) writerNow() (*writerEntry[W], error) {
	if w := c.writer.Load(); w != nil {
		return w, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	return c.writerSchema(ctx)
}

// writerSchema returns the schema the encoder writes with: the configured one registered under the subject
// (Register), or the subject's schema at Version (latest when 0). Resolved once; failures are not remembered.
func (c *core[E, W]) writerSchema(ctx context.Context) (*writerEntry[W], error) {
	if w := c.writer.Load(); w != nil {
		return w, nil
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if w := c.writer.Load(); w != nil {
		return w, nil
	}
	if c.subjectErr != nil {
		return nil, c.subjectErr
	}
	w := &writerEntry[W]{}
	if c.register {
		err := c.retry(ctx, "POST /subjects/"+c.subject+"/versions", func(ctx context.Context) (err error) {
			w.id, err = c.client.RegisterSchema(ctx, c.subject, c.schema, -1, -1)
			return err
		})
		if err != nil {
			if re := responseError(err); re != nil && !errors.Is(err, ErrRegistry) && (re.StatusCode == http.StatusConflict || re.ErrorCode == sr.ErrIncompatibleSchema.Code) {
				return nil, fmt.Errorf("register the schema under subject %q: %w: the registry refused it: %s", c.subject, ErrIncompatibleSchema, describe(re))
			}
			return nil, fmt.Errorf("register the schema under subject %q: %w", c.subject, registryErr(err))
		}
		w.schema = c.schema
	} else {
		version := c.version
		if version == 0 {
			version = -1
		}
		var ss sr.SubjectSchema
		what := "GET /subjects/" + c.subject + "/versions/" + versionName(c.version)
		err := c.retry(ctx, what, func(ctx context.Context) (err error) {
			ss, err = c.client.SchemaByVersion(ctx, c.subject, version)
			return err
		})
		if err != nil {
			if re := responseError(err); re != nil && !errors.Is(err, ErrRegistry) && re.StatusCode == http.StatusNotFound {
				return nil, fmt.Errorf("subject %q version %s: %w: the registry answered %s (registration is off: register the schema first, or set Register)",
					c.subject, versionName(c.version), ErrUnknownSchema, describe(re))
			}
			return nil, fmt.Errorf("subject %q version %s: %w", c.subject, versionName(c.version), registryErr(err))
		}
		if ss.Type != c.typ {
			return nil, fmt.Errorf("subject %q version %d (schema id %d): %w: a schema of type %s, want %s", c.subject, ss.Version, ss.ID, ErrIncompatibleSchema, ss.Type, c.typ)
		}
		w.id, w.version, w.schema = ss.ID, ss.Version, ss.Schema
	}
	val, err := c.loadWriter(w.id, w.schema)
	if err != nil {
		return nil, fmt.Errorf("subject %q schema id %d: %w", c.subject, w.id, err)
	}
	w.val = val
	c.writer.Store(w)
	return w, nil
}

func versionName(v int) string {
	if v == 0 {
		return "latest"
	}
	return strconv.Itoa(v)
}

// retry calls f until it succeeds, fails for good (a 4xx answer) or ctx ends; transport failures, 5xx, 408 and
// 429 are retried with backoff, the first one logged as a warning.
func (c *core[E, W]) retry(ctx context.Context, what string, f func(context.Context) error) error {
	backoff := 50 * time.Millisecond
	start := time.Now()
	for attempt := 0; ; attempt++ {
		err := f(ctx)
		if err == nil {
			return nil
		}
		if !transient(err) {
			if responseError(err) != nil {
				return err // mapped by the caller
			}
			return fmt.Errorf("%w: %s: %w", ErrRegistry, what, err)
		}
		if attempt == 0 {
			c.logger.Warn("schema registry request failed; retrying with backoff", "format", c.format, "request", what, "err", err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w: %s: no answer for %s: last error: %w", ErrRegistry, what, time.Since(start).Round(time.Millisecond), err)
		case <-t.C:
		}
		backoff = min(2*backoff, time.Second)
	}
}

func responseError(err error) *sr.ResponseError {
	var re *sr.ResponseError
	if errors.As(err, &re) {
		return re
	}
	return nil
}

// registryErr makes a registry answer the caller does not map an ErrRegistry.
func registryErr(err error) error {
	if errors.Is(err, ErrRegistry) {
		return err
	}
	if re := responseError(err); re != nil {
		return fmt.Errorf("%w: %s %s answered %s", ErrRegistry, re.Method, re.URL, describe(re))
	}
	return fmt.Errorf("%w: %w", ErrRegistry, err)
}

// transient reports whether a registry failure may go away by itself.
func transient(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true // the per-attempt client timeout (5 s by default); the caller's ctx ends the loop
	}
	re := responseError(err)
	if re == nil {
		return true // transport
	}
	return re.StatusCode >= 500 || re.StatusCode == http.StatusTooManyRequests || re.StatusCode == http.StatusRequestTimeout
}

// describe formats a registry error response: "404 (error code 40403): Schema 7 not found".
func describe(re *sr.ResponseError) string {
	msg := re.Message
	if msg == "" {
		msg = string(re.Raw)
	}
	return fmt.Sprintf("%d (error code %d): %s", re.StatusCode, re.ErrorCode, msg)
}

// wrongType is the error of a writer schema of another format.
func wrongType(id int, got, want sr.SchemaType) error {
	return fmt.Errorf("schema id %d: %w: a schema of type %s, want %s", id, ErrIncompatibleSchema, got, want)
}

// noReferences refuses schemas with references, which schemareg does not resolve.
func noReferences(id int, s sr.Schema) error {
	if len(s.References) > 0 {
		return fmt.Errorf("schema id %d references %d other schemas (%s, ...): %w: schemareg does not resolve schema references",
			id, len(s.References), s.References[0].Subject, errors.ErrUnsupported)
	}
	return nil
}
