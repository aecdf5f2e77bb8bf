// Package srtest runs a Confluent Schema Registry peer in-process on 127.0.0.1 for tests: an HTTP server
// speaking the part of the Registry's REST API that serializers use, started in microseconds and dropped with
// the test. Like kfake for Kafka, it is a real wire-protocol peer for any registry client (franz-go's sr, the
// Java serializers), not a mock.
//
//	reg := srtest.Start(t)                              // stopped by t.Cleanup
//	cl, _ := sr.NewClient(sr.URLs(reg.URL))
//	id := reg.Register(t, "views-value", sr.Schema{Schema: avroSchema})
//	n := reg.Requests("GET /schemas/ids/{id}")          // requests served by that route
//
// Endpoints:
//
//	GET    /schemas/types
//	GET    /schemas/ids/{id}                            404 error_code 40403 for an unknown id
//	GET    /schemas/ids/{id}/schema
//	GET    /subjects
//	GET    /subjects/{subject}/versions                 404 error_code 40401 for an unknown subject
//	POST   /subjects/{subject}/versions                 register; the same schema again returns its id;
//	                                                    409 error_code 409 when incompatible
//	POST   /subjects/{subject}                          look a schema up in a subject (40403 when absent)
//	GET    /subjects/{subject}/versions/{version}       version: a number, "latest" or -1 (40402 when absent)
//	GET    /subjects/{subject}/versions/{version}/schema
//	POST   /compatibility/subjects/{subject}/versions/{version}
//	POST   /compatibility/subjects/{subject}/versions  against every version
//	GET    /config, PUT /config                         the global compatibility level (default BACKWARD)
//	GET    /config/{subject}, PUT and DELETE            a subject's level (GET: 40408 when unset, unless
//	                                                    ?defaultToGlobal=true)
//
// Errors are the Registry's JSON, {"error_code": N, "message": "..."}, with the HTTP status of N's first three
// digits. Schema ids are global: the same schema text (compacted JSON for Avro and JSON Schema, trimmed text
// for Protobuf) registered under several subjects gets one id.
//
// Compatibility is checked for real for Avro, with hamba/avro's schema compatibility (the rules of the Avro
// specification's schema resolution), at every level: NONE, BACKWARD, FORWARD, FULL and their _TRANSITIVE
// variants. Registering a schema of another type than the subject's latest version is incompatible. Protobuf and
// JSON Schema schemas are stored and served but not compared: any new version of the same type is compatible.
// Avro and JSON Schema schemas must parse (422, error_code 42201, otherwise); Protobuf text is not parsed.
// Schema references, deletion, modes and contexts are not implemented (references are refused with 42201).
package srtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/hamba/avro/v2"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/twmb/franz-go/pkg/sr"
)

// Server is a running registry.
type Server struct {
	// URL is the base URL, "http://127.0.0.1:PORT".
	URL string

	srv *http.Server
	ln  net.Listener

	mu       sync.Mutex
	schemas  []*stored // by id-1
	byKey    map[string]*stored
	subjects map[string]*subject
	global   sr.CompatibilityLevel
	requests map[string]int // by route pattern, "GET /schemas/ids/{id}"
	down     bool
}

type stored struct {
	id     int
	schema sr.Schema
	key    string // type + canonical text
}

type subject struct {
	versions []*stored // version v is versions[v-1]
	level    sr.CompatibilityLevel
}

// Option configures Start and New.
type Option func(*Server)

// Compatibility sets the global compatibility level (default BACKWARD, as the Registry).
func Compatibility(l sr.CompatibilityLevel) Option { return func(s *Server) { s.global = l } }

// Start starts a registry on a free 127.0.0.1 port and closes it when the test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s, err := New(opts...)
	if err != nil {
		t.Fatalf("srtest: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// New starts a registry; the caller closes it.
func New(opts ...Option) (*Server, error) {
	s := &Server{
		byKey:    map[string]*stored{},
		subjects: map[string]*subject{},
		global:   sr.CompatBackward,
		requests: map[string]int{},
	}
	for _, o := range opts {
		o(s)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("srtest: listen: %w", err)
	}
	s.ln = ln
	s.URL = "http://" + ln.Addr().String()
	mux := http.NewServeMux()
	for pattern, h := range map[string]func(*http.Request) (any, error){
		"GET /schemas/types":                                        s.types,
		"GET /schemas/ids/{id}":                                     s.schemaByID,
		"GET /schemas/ids/{id}/schema":                              s.schemaTextByID,
		"GET /subjects":                                             s.listSubjects,
		"GET /subjects/{subject}/versions":                          s.listVersions,
		"POST /subjects/{subject}/versions":                         s.register,
		"POST /subjects/{subject}":                                  s.lookup,
		"GET /subjects/{subject}/versions/{version}":                s.version,
		"GET /subjects/{subject}/versions/{version}/schema":         s.versionText,
		"POST /compatibility/subjects/{subject}/versions/{version}": s.checkVersion,
		"POST /compatibility/subjects/{subject}/versions":           s.checkAll,
		"GET /config":                                               s.getGlobal,
		"PUT /config":                                               s.putGlobal,
		"GET /config/{subject}":                                     s.getSubjectConfig,
		"PUT /config/{subject}":                                     s.putSubjectConfig,
		"DELETE /config/{subject}":                                  s.deleteSubjectConfig,
	} {
		mux.HandleFunc(pattern, s.handler(pattern, h))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apiError{http.StatusNotFound, 404, fmt.Sprintf("HTTP 404 Not Found: %s %s", r.Method, r.URL.Path)})
	})
	s.srv = &http.Server{Handler: mux}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Close stops the server.
func (s *Server) Close() { _ = s.srv.Close() }

// Client returns a franz-go registry client of this server.
func (s *Server) Client(t testing.TB) *sr.Client {
	t.Helper()
	cl, err := sr.NewClient(sr.URLs(s.URL))
	if err != nil {
		t.Fatalf("srtest: client: %v", err)
	}
	return cl
}

// Requests returns how many requests the route with this pattern ("GET /schemas/ids/{id}", as listed in the
// package documentation) served, errors included; with no pattern, the total of every route.
func (s *Server) Requests(pattern ...string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for p, c := range s.requests {
		if len(pattern) == 0 || slices.Contains(pattern, p) {
			n += c
		}
	}
	return n
}

// SetDown makes every request fail with 503 (error_code 50003) while down is true: a registry that is
// unavailable.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	s.down = down
	s.mu.Unlock()
}

// Register registers a schema under a subject as POST /subjects/{subject}/versions does (compatibility checked)
// and returns its id; it fails the test on error.
func (s *Server) Register(t testing.TB, subject string, schema sr.Schema) int {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.registerLocked(subject, schema)
	if err != nil {
		t.Fatalf("srtest: register under %s: %v", subject, err)
	}
	return st.id
}

// SetCompatibility sets a subject's compatibility level (the global one for subject "").
func (s *Server) SetCompatibility(subject string, l sr.CompatibilityLevel) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if subject == "" {
		s.global = l
		return
	}
	s.subj(subject, true).level = l
}

// apiError is a Registry error response.
type apiError struct {
	status int
	code   int
	msg    string
}

func (e *apiError) Error() string { return fmt.Sprintf("%s (error code %d)", e.msg, e.code) }

func errf(code int, format string, args ...any) *apiError {
	status := code
	for status >= 1000 {
		status /= 10
	}
	return &apiError{status, code, fmt.Sprintf(format, args...)}
}

func writeError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error_code": e.code, "message": e.msg})
}

func (s *Server) handler(pattern string, h func(*http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests[pattern]++
		down := s.down
		s.mu.Unlock()
		if down {
			writeError(w, &apiError{http.StatusServiceUnavailable, 50003, "srtest: the registry is down (SetDown)"})
			return
		}
		v, err := h(r)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) {
				ae = errf(50001, "%v", err)
			}
			writeError(w, ae)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
		if text, ok := v.(rawText); ok {
			_, _ = w.Write([]byte(text))
			return
		}
		_ = json.NewEncoder(w).Encode(v)
	}
}

// rawText is a response body written as is.
type rawText string

func (s *Server) subj(name string, create bool) *subject {
	sub := s.subjects[name]
	if sub == nil && create {
		sub = &subject{}
		s.subjects[name] = sub
	}
	return sub
}

func (s *Server) level(sub *subject) sr.CompatibilityLevel {
	if sub != nil && sub.level != 0 {
		return sub.level
	}
	return s.global
}

func readSchema(r *http.Request) (sr.Schema, error) {
	var in sr.Schema
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(&in); err != nil {
		return in, errf(50005, "srtest: request body: %v", err)
	}
	if in.Schema == "" {
		return in, errf(42201, "Empty schema")
	}
	return in, nil
}

// canonical checks a schema and returns its identity key.
func canonical(s sr.Schema) (string, error) {
	if len(s.References) > 0 {
		return "", errf(42201, "Invalid schema: srtest does not implement schema references")
	}
	switch s.Type {
	case sr.TypeAvro:
		if _, err := parseAvro(s.Schema); err != nil {
			return "", errf(42201, "Invalid schema %s: %v", s.Schema, err)
		}
		var b bytes.Buffer
		if err := json.Compact(&b, []byte(s.Schema)); err != nil {
			return "", errf(42201, "Invalid schema %s: %v", s.Schema, err)
		}
		return "AVRO " + b.String(), nil
	case sr.TypeJSON:
		doc, err := jsonschema.UnmarshalJSON(strings.NewReader(s.Schema))
		if err == nil {
			c := jsonschema.NewCompiler()
			c.DefaultDraft(jsonschema.Draft7)
			if err = c.AddResource("urn:srtest:schema", doc); err == nil {
				_, err = c.Compile("urn:srtest:schema")
			}
		}
		if err != nil {
			return "", errf(42201, "Invalid schema %s: %v", s.Schema, err)
		}
		var b bytes.Buffer
		_ = json.Compact(&b, []byte(s.Schema))
		return "JSON " + b.String(), nil
	case sr.TypeProtobuf:
		return "PROTOBUF " + strings.TrimSpace(s.Schema), nil
	}
	return "", errf(42201, "Invalid schema type %d", s.Type)
}

func parseAvro(text string) (avro.Schema, error) {
	return avro.ParseWithCache(text, "", &avro.SchemaCache{}) // a fresh cache: named types of other schemas must not leak in
}

// incompatibilities lists why candidate cannot follow the given versions at level (nil: compatible).
func incompatibilities(level sr.CompatibilityLevel, candidate sr.Schema, versions []*stored) []string {
	if level == sr.CompatNone || len(versions) == 0 {
		return nil
	}
	switch level {
	case sr.CompatBackward, sr.CompatForward, sr.CompatFull:
		versions = versions[len(versions)-1:]
	}
	var msgs []string
	for _, old := range versions {
		if old.schema.Type != candidate.Type {
			msgs = append(msgs, fmt.Sprintf("schema type %s differs from %s of the existing schema id %d", candidate.Type, old.schema.Type, old.id))
			continue
		}
		if candidate.Type != sr.TypeAvro {
			continue // not compared (see the package documentation)
		}
		newS, err1 := parseAvro(candidate.Schema)
		oldS, err2 := parseAvro(old.schema.Schema)
		if err := errors.Join(err1, err2); err != nil {
			msgs = append(msgs, err.Error())
			continue
		}
		compat := avro.NewSchemaCompatibility()
		backward := level == sr.CompatBackward || level == sr.CompatBackwardTransitive || level == sr.CompatFull || level == sr.CompatFullTransitive
		forward := level == sr.CompatForward || level == sr.CompatForwardTransitive || level == sr.CompatFull || level == sr.CompatFullTransitive
		if backward {
			if err := compat.Compatible(newS, oldS); err != nil {
				msgs = append(msgs, fmt.Sprintf("{oldSchemaId: %d, compatibility: %s, reason: the new schema cannot read data written with the old one: %v}", old.id, level, err))
			}
		}
		if forward {
			if err := compat.Compatible(oldS, newS); err != nil {
				msgs = append(msgs, fmt.Sprintf("{oldSchemaId: %d, compatibility: %s, reason: the old schema cannot read data written with the new one: %v}", old.id, level, err))
			}
		}
	}
	return msgs
}

func (s *Server) registerLocked(name string, in sr.Schema) (*stored, error) {
	key, err := canonical(in)
	if err != nil {
		return nil, err
	}
	sub := s.subj(name, false)
	if sub != nil {
		for _, v := range sub.versions {
			if v.key == key {
				return v, nil // already registered: same id, no new version
			}
		}
	}
	var versions []*stored
	if sub != nil {
		versions = sub.versions
	}
	level := s.level(sub)
	if msgs := incompatibilities(level, in, versions); len(msgs) > 0 {
		return nil, errf(409, "Schema being registered is incompatible with an earlier schema for subject %q, details: [%s]", name, strings.Join(msgs, ", "))
	}
	st := s.byKey[key]
	if st == nil {
		st = &stored{id: len(s.schemas) + 1, schema: sr.Schema{Schema: in.Schema, Type: in.Type}, key: key}
		s.schemas = append(s.schemas, st)
		s.byKey[key] = st
	}
	sub = s.subj(name, true)
	sub.versions = append(sub.versions, st)
	return st, nil
}

func (s *Server) types(*http.Request) (any, error) {
	return []string{"JSON", "PROTOBUF", "AVRO"}, nil
}

func (s *Server) byID(r *http.Request) (*stored, error) {
	id, err := strconv.Atoi(r.PathValue("id"))
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil || id < 1 || id > len(s.schemas) {
		return nil, errf(40403, "Schema %s not found", r.PathValue("id"))
	}
	return s.schemas[id-1], nil
}

func (s *Server) schemaByID(r *http.Request) (any, error) {
	st, err := s.byID(r)
	if err != nil {
		return nil, err
	}
	return st.schema, nil
}

func (s *Server) schemaTextByID(r *http.Request) (any, error) {
	st, err := s.byID(r)
	if err != nil {
		return nil, err
	}
	return rawText(st.schema.Schema), nil
}

func (s *Server) listSubjects(*http.Request) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.subjects))
	for name, sub := range s.subjects {
		if len(sub.versions) > 0 {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out, nil
}

// existing returns a subject with at least one version, or 40401.
func (s *Server) existing(name string) (*subject, error) {
	sub := s.subj(name, false)
	if sub == nil || len(sub.versions) == 0 {
		return nil, errf(40401, "Subject '%s' not found.", name)
	}
	return sub, nil
}

func (s *Server) listVersions(r *http.Request) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, err := s.existing(r.PathValue("subject"))
	if err != nil {
		return nil, err
	}
	out := make([]int, len(sub.versions))
	for i := range out {
		out[i] = i + 1
	}
	return out, nil
}

func (s *Server) register(r *http.Request) (any, error) {
	in, err := readSchema(r)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.registerLocked(r.PathValue("subject"), in)
	if err != nil {
		return nil, err
	}
	return map[string]int{"id": st.id}, nil
}

func subjectSchema(name string, version int, st *stored) sr.SubjectSchema {
	return sr.SubjectSchema{Subject: name, Version: version, ID: st.id, Schema: st.schema}
}

func (s *Server) lookup(r *http.Request) (any, error) {
	in, err := readSchema(r)
	if err != nil {
		return nil, err
	}
	key, err := canonical(in)
	if err != nil {
		return nil, err
	}
	name := r.PathValue("subject")
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, err := s.existing(name)
	if err != nil {
		return nil, err
	}
	for i, v := range sub.versions {
		if v.key == key {
			return subjectSchema(name, i+1, v), nil
		}
	}
	return nil, errf(40403, "Schema not found")
}

// versionOf resolves {version}: a number from 1, "latest" or -1.
func (s *Server) versionOf(r *http.Request) (string, int, *stored, error) {
	name := r.PathValue("subject")
	sub, err := s.existing(name)
	if err != nil {
		return name, 0, nil, err
	}
	raw := r.PathValue("version")
	v := len(sub.versions)
	if raw != "latest" && raw != "-1" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 {
			return name, 0, nil, errf(42202, "The specified version '%s' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"", raw)
		}
		if n > len(sub.versions) {
			return name, 0, nil, errf(40402, "Version %d not found.", n)
		}
		v = n
	}
	return name, v, sub.versions[v-1], nil
}

func (s *Server) version(r *http.Request) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name, v, st, err := s.versionOf(r)
	if err != nil {
		return nil, err
	}
	return subjectSchema(name, v, st), nil
}

func (s *Server) versionText(r *http.Request) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, _, st, err := s.versionOf(r)
	if err != nil {
		return nil, err
	}
	return rawText(st.schema.Schema), nil
}

type compatResult struct {
	Is       bool     `json:"is_compatible"`
	Messages []string `json:"messages,omitempty"`
}

func verbose(r *http.Request, msgs []string) compatResult {
	res := compatResult{Is: len(msgs) == 0}
	if r.URL.Query().Get("verbose") == "true" {
		res.Messages = msgs
	}
	return res
}

func (s *Server) checkVersion(r *http.Request) (any, error) {
	in, err := readSchema(r)
	if err != nil {
		return nil, err
	}
	if _, err := canonical(in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, _, st, err := s.versionOf(r)
	if err != nil {
		return nil, err
	}
	level := s.level(s.subj(r.PathValue("subject"), false))
	switch level { // against one version: the level's direction, not its transitivity
	case sr.CompatBackwardTransitive:
		level = sr.CompatBackward
	case sr.CompatForwardTransitive:
		level = sr.CompatForward
	case sr.CompatFullTransitive:
		level = sr.CompatFull
	}
	return verbose(r, incompatibilities(level, in, []*stored{st})), nil
}

func (s *Server) checkAll(r *http.Request) (any, error) {
	in, err := readSchema(r)
	if err != nil {
		return nil, err
	}
	if _, err := canonical(in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, err := s.existing(r.PathValue("subject"))
	if err != nil {
		return nil, err
	}
	return verbose(r, incompatibilities(s.level(sub), in, sub.versions)), nil
}

func (s *Server) getGlobal(*http.Request) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return map[string]sr.CompatibilityLevel{"compatibilityLevel": s.global}, nil
}

func readLevel(r *http.Request) (sr.CompatibilityLevel, error) {
	var body struct {
		Compatibility sr.CompatibilityLevel `json:"compatibility"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Compatibility == 0 {
		return 0, errf(42203, "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive")
	}
	return body.Compatibility, nil
}

func (s *Server) putGlobal(r *http.Request) (any, error) {
	l, err := readLevel(r)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.global = l
	return map[string]sr.CompatibilityLevel{"compatibility": l}, nil
}

func (s *Server) getSubjectConfig(r *http.Request) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub := s.subj(r.PathValue("subject"), false)
	if sub == nil || sub.level == 0 {
		if r.URL.Query().Get("defaultToGlobal") == "true" {
			return map[string]sr.CompatibilityLevel{"compatibilityLevel": s.global}, nil
		}
		return nil, errf(40408, "Subject '%s' does not have subject-level compatibility configured", r.PathValue("subject"))
	}
	return map[string]sr.CompatibilityLevel{"compatibilityLevel": sub.level}, nil
}

func (s *Server) putSubjectConfig(r *http.Request) (any, error) {
	l, err := readLevel(r)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subj(r.PathValue("subject"), true).level = l
	return map[string]sr.CompatibilityLevel{"compatibility": l}, nil
}

func (s *Server) deleteSubjectConfig(r *http.Request) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub := s.subj(r.PathValue("subject"), false)
	if sub == nil || sub.level == 0 {
		return nil, errf(40408, "Subject '%s' does not have subject-level compatibility configured", r.PathValue("subject"))
	}
	l := sub.level
	sub.level = 0
	return map[string]sr.CompatibilityLevel{"compatibilityLevel": l}, nil
}
