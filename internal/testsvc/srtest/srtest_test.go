package srtest_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/kappaflow/kappa/internal/testsvc/srtest"
)

const (
	v1 = `{"type":"record","name":"R","fields":[{"name":"a","type":"string"}]}`
	// v2 adds a field with a default: backward and forward compatible with v1.
	v2 = `{"type":"record","name":"R","fields":[{"name":"a","type":"string"},{"name":"b","type":"int","default":0}]}`
	// v3 adds a field without a default: not backward compatible (it cannot read v2's records).
	v3 = `{"type":"record","name":"R","fields":[{"name":"a","type":"string"},{"name":"b","type":"int","default":0},{"name":"c","type":"long"}]}`
	// v4 drops a and b: backward compatible with v3 only.
	v4 = `{"type":"record","name":"R","fields":[{"name":"c","type":"long"}]}`
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func respErr(t *testing.T, err error) *sr.ResponseError {
	t.Helper()
	var re *sr.ResponseError
	require.True(t, errors.As(err, &re), "%v", err)
	return re
}

func TestRegistry(t *testing.T) {
	reg := srtest.Start(t)
	cl := reg.Client(t)
	ctx := ctxT(t)

	id1, err := cl.RegisterSchema(ctx, "s-value", sr.Schema{Schema: v1}, -1, -1)
	require.NoError(t, err)
	require.Equal(t, 1, id1)
	again, err := cl.RegisterSchema(ctx, "s-value", sr.Schema{Schema: " " + strings.ReplaceAll(v1, ",", " , ")}, -1, -1)
	require.NoError(t, err)
	require.Equal(t, id1, again, "the same schema (JSON whitespace aside) keeps its id and adds no version")
	other, err := cl.RegisterSchema(ctx, "other-value", sr.Schema{Schema: v1}, -1, -1)
	require.NoError(t, err)
	require.Equal(t, id1, other, "ids are global")
	id2, err := cl.RegisterSchema(ctx, "s-value", sr.Schema{Schema: v2}, -1, -1)
	require.NoError(t, err)
	require.Equal(t, 2, id2)

	versions, err := cl.SubjectVersions(ctx, "s-value")
	require.NoError(t, err)
	require.Equal(t, []int{1, 2}, versions)
	subjects, err := cl.Subjects(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"other-value", "s-value"}, subjects)

	s, err := cl.SchemaByID(ctx, id2)
	require.NoError(t, err)
	require.Equal(t, v2, s.Schema)
	require.Equal(t, sr.TypeAvro, s.Type)
	text, err := cl.SchemaTextByID(ctx, id2)
	require.NoError(t, err)
	require.Equal(t, v2, text)
	latest, err := cl.SchemaByVersion(ctx, "s-value", -1)
	require.NoError(t, err)
	require.Equal(t, sr.SubjectSchema{Subject: "s-value", Version: 2, ID: id2, Schema: sr.Schema{Schema: v2}}, latest)
	first, err := cl.SchemaByVersion(ctx, "s-value", 1)
	require.NoError(t, err)
	require.Equal(t, id1, first.ID)
	text, err = cl.SchemaTextByVersion(ctx, "s-value", 1)
	require.NoError(t, err)
	require.Equal(t, v1, text)
	found, err := cl.LookupSchema(ctx, "s-value", sr.Schema{Schema: v2})
	require.NoError(t, err)
	require.Equal(t, 2, found.Version)
	types, err := cl.SupportedTypes(ctx)
	require.NoError(t, err)
	require.ElementsMatch(t, []sr.SchemaType{sr.TypeAvro, sr.TypeJSON, sr.TypeProtobuf}, types)

	for _, tc := range []struct {
		name   string
		err    error
		status int
		code   int
		msg    string
	}{
		{"unknown id", func() error { _, err := cl.SchemaByID(ctx, 99); return err }(), 404, 40403, "Schema 99 not found"},
		{"unknown subject", func() error { _, err := cl.SubjectVersions(ctx, "nope"); return err }(), 404, 40401, "Subject 'nope' not found."},
		{"unknown version", func() error { _, err := cl.SchemaByVersion(ctx, "s-value", 3); return err }(), 404, 40402, "Version 3 not found."},
		{"schema not in subject", func() error { _, err := cl.LookupSchema(ctx, "s-value", sr.Schema{Schema: v3}); return err }(), 404, 40403, "Schema not found"},
		{"invalid schema", func() error {
			_, err := cl.RegisterSchema(ctx, "x", sr.Schema{Schema: `{"type":"nope"}`}, -1, -1)
			return err
		}(), 422, 42201, ""},
		{"incompatible", func() error { _, err := cl.RegisterSchema(ctx, "s-value", sr.Schema{Schema: v3}, -1, -1); return err }(), 409, 409,
			`Schema being registered is incompatible with an earlier schema for subject "s-value", details: [{oldSchemaId: 2, compatibility: BACKWARD, reason: the new schema cannot read data written with the old one: `},
		{"another type", func() error {
			_, err := cl.RegisterSchema(ctx, "s-value", sr.Schema{Schema: `syntax = "proto3";`, Type: sr.TypeProtobuf}, -1, -1)
			return err
		}(), 409, 409, ""},
		{"subject without config", func() error { return cl.Compatibility(ctx, "s-value")[0].Err }(), 404, 40408, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			re := respErr(t, tc.err)
			require.Equal(t, tc.status, re.StatusCode)
			require.Equal(t, tc.code, re.ErrorCode)
			require.Contains(t, re.Message, tc.msg)
		})
	}
	versions, err = cl.SubjectVersions(ctx, "s-value")
	require.NoError(t, err)
	require.Equal(t, []int{1, 2}, versions, "refused schemas add no version")

	// The raw error body is the Registry's JSON.
	resp, err := http.Get(reg.URL + "/schemas/ids/42")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 404, resp.StatusCode)
	require.JSONEq(t, `{"error_code":40403,"message":"Schema 42 not found"}`, string(body))

	require.Equal(t, 3, reg.Requests("GET /schemas/ids/{id}"))
	require.Greater(t, reg.Requests(), 15)
}

func TestCompatibilityLevels(t *testing.T) {
	reg := srtest.Start(t)
	cl := reg.Client(t)
	ctx := ctxT(t)
	reg.Register(t, "s", sr.Schema{Schema: v1})

	check := func(version int, schema string) bool {
		t.Helper()
		res, err := cl.CheckCompatibility(ctx, "s", version, sr.Schema{Schema: schema})
		require.NoError(t, err)
		return res.Is
	}
	require.True(t, check(-1, v2))
	require.False(t, check(-1, v3), "c has no default: v3 cannot read v1's records")
	res, err := cl.CheckCompatibility(sr.WithParams(ctx, sr.Verbose), "s", -1, sr.Schema{Schema: v3})
	require.NoError(t, err)
	require.Len(t, res.Messages, 1)

	// FORWARD: the old schema must read the new one's records; v3's added field is ignored by v1 readers.
	res2 := cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatForward}, "s")
	require.NoError(t, res2[0].Err)
	got := cl.Compatibility(ctx, "s")
	require.NoError(t, got[0].Err)
	require.Equal(t, sr.CompatForward, got[0].Level)
	require.True(t, check(-1, v3))
	require.False(t, check(-1, v4), "v1 cannot read v4's records: a has no default")

	// BACKWARD is checked against the latest version only; BACKWARD_TRANSITIVE against all.
	reg.SetCompatibility("s", sr.CompatNone)
	reg.Register(t, "s", sr.Schema{Schema: v3})
	reg.SetCompatibility("s", sr.CompatBackward)
	require.True(t, check(-1, v4))
	require.False(t, check(1, v4), "against version 1: v4 cannot read v1's records (c has no default)")
	reg.SetCompatibility("s", sr.CompatBackwardTransitive)
	_, err = cl.RegisterSchema(ctx, "s", sr.Schema{Schema: v4}, -1, -1)
	require.Equal(t, 409, respErr(t, err).ErrorCode, "v4 cannot read v1's records (c has no default)")
	reg.SetCompatibility("s", sr.CompatBackward)
	_, err = cl.RegisterSchema(ctx, "s", sr.Schema{Schema: v4}, -1, -1)
	require.NoError(t, err)

	// FULL: both ways.
	reg.Register(t, "f", sr.Schema{Schema: v1})
	reg.SetCompatibility("f", sr.CompatFull)
	require.False(t, func() bool {
		r, err := cl.CheckCompatibility(ctx, "f", -1, sr.Schema{Schema: v3})
		require.NoError(t, err)
		return r.Is
	}())

	// The global level.
	global := cl.Compatibility(ctx)
	require.NoError(t, global[0].Err)
	require.Equal(t, sr.CompatBackward, global[0].Level)
	reset := cl.ResetCompatibility(ctx, "f")
	require.NoError(t, reset[0].Err)
	def := cl.Compatibility(sr.WithParams(ctx, sr.DefaultToGlobal), "f")
	require.NoError(t, def[0].Err)
	require.Equal(t, sr.CompatBackward, def[0].Level)
}

func TestDown(t *testing.T) {
	reg := srtest.Start(t)
	cl := reg.Client(t)
	reg.SetDown(true)
	_, err := cl.SchemaByID(ctxT(t), 1)
	re := respErr(t, err)
	require.Equal(t, 503, re.StatusCode)
	require.Equal(t, 50003, re.ErrorCode)
	reg.SetDown(false)
	_, err = cl.SchemaByID(ctxT(t), 1)
	require.Equal(t, 40403, respErr(t, err).ErrorCode)
}
