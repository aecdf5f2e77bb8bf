package schemareg_test

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kappaflow/kappa/internal/testsvc/srtest"
	"github.com/kappaflow/kappa/io/schemareg"
	"github.com/kappaflow/kappa/io/schemareg/internal/testpb"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func newProto[T proto.Message](t *testing.T, cl *sr.Client, cfg schemareg.ProtobufConfig) *schemareg.Protobuf[T] {
	t.Helper()
	p, err := schemareg.NewProtobuf[T](cl, cfg)
	require.NoError(t, err)
	return p
}

func samplePageView() *testpb.PageView {
	ref := "https://example.com"
	return &testpb.PageView{
		Url: "/a", User: "u1", Millis: 1_700_000_000_000,
		At:       timestamppb.New(timestamppb.Now().AsTime().Truncate(0)),
		Tags:     []string{"x", "y"},
		Counters: map[string]int64{"clicks": 3},
		Kind:     testpb.PageView_KIND_SCREEN,
		Referrer: &ref,
		Source:   &testpb.PageView_App{App: "ios"},
		Inner:    &testpb.PageView_Inner{Depth: 2, Scores: []float64{0.5}},
	}
}

func TestProtobufRoundTrip(t *testing.T) {
	t.Parallel()
	reg := srtest.Start(t)
	cl := reg.Client(t)
	for _, tc := range []struct {
		name  string
		msg   proto.Message
		index []byte // the message-index bytes after the 5-byte header
		check func(t *testing.T, b []byte) proto.Message
	}{
		{"first message", samplePageView(), []byte{0}, func(t *testing.T, b []byte) proto.Message {
			v, err := newProto[*testpb.PageView](t, cl, schemareg.ProtobufConfig{}).DecodeBytes(b)
			require.NoError(t, err)
			return v
		}},
		{"second message", &testpb.Click{Url: "/c", Payload: []byte{1, 2}, Status: testpb.Status_STATUS_OK}, []byte{2, 2}, func(t *testing.T, b []byte) proto.Message {
			v, err := newProto[*testpb.Click](t, cl, schemareg.ProtobufConfig{}).DecodeBytes(b)
			require.NoError(t, err)
			return v
		}},
		{"nested message", &testpb.PageView_Inner{Depth: 7}, []byte{4, 0, 0}, func(t *testing.T, b []byte) proto.Message {
			v, err := newProto[*testpb.PageView_Inner](t, cl, schemareg.ProtobufConfig{}).DecodeBytes(b)
			require.NoError(t, err)
			return v
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b []byte
			var err error
			cfg := schemareg.ProtobufConfig{Subject: schemareg.RecordName, Register: true}
			switch m := tc.msg.(type) {
			case *testpb.PageView:
				b, err = newProto[*testpb.PageView](t, cl, cfg).AppendEncode(nil, m)
			case *testpb.Click:
				b, err = newProto[*testpb.Click](t, cl, cfg).AppendEncode(nil, m)
			case *testpb.PageView_Inner:
				b, err = newProto[*testpb.PageView_Inner](t, cl, cfg).AppendEncode(nil, m)
			}
			require.NoError(t, err)
			require.Equal(t, tc.index, b[5:5+len(tc.index)], "message index")
			require.True(t, proto.Equal(tc.msg, tc.check(t, b)))
		})
	}
	// One file, one schema: the three subjects share its id.
	for _, subject := range []string{"kappa.schemareg.test.PageView", "kappa.schemareg.test.Click", "kappa.schemareg.test.PageView.Inner"} {
		s, err := cl.SchemaByVersion(ctxT(t), subject, -1)
		require.NoError(t, err)
		require.Equal(t, 1, s.ID, subject)
		require.Equal(t, sr.TypeProtobuf, s.Type)
	}

	// Encode/Decode put the record in the value; with Key, in the key.
	k := newProto[*testpb.Click](t, cl, schemareg.ProtobufConfig{Topic: "clicks", Key: true, Register: true})
	m, err := k.Encode(&testpb.Click{Url: "/k"})
	require.NoError(t, err)
	require.Nil(t, m.Value)
	got, err := k.Decode(m)
	require.NoError(t, err)
	require.Equal(t, "/k", got.GetUrl())
}

func TestProtobufErrors(t *testing.T) {
	t.Parallel()
	reg := srtest.Start(t)
	cl := reg.Client(t)
	clicks := newProto[*testpb.Click](t, cl, schemareg.ProtobufConfig{Topic: "clicks", Register: true})
	click, err := clicks.AppendEncode(nil, &testpb.Click{Url: "/c"})
	require.NoError(t, err)
	views := newProto[*testpb.PageView](t, cl, schemareg.ProtobufConfig{})
	avroID := reg.Register(t, "avro-value", sr.Schema{Schema: viewV1Schema})

	for _, tc := range []struct {
		name  string
		value []byte
		is    error
		msg   string
	}{
		{"another message of the schema", click, schemareg.ErrIncompatibleSchema,
			"schemareg protobuf: schema id 1: incompatible schema: message index [1] is kappa.schemareg.test.Click, want kappa.schemareg.test.PageView"},
		{"an index past the schema's messages", append(schemareg.AppendHeader(nil, 1), 2, 10), schemareg.ErrIncompatibleSchema,
			"schemareg protobuf: schema id 1: incompatible schema: message index [5] names no message of the schema"},
		{"malformed index", append(schemareg.AppendHeader(nil, 1), 0xff), schemareg.ErrNotWireFormat,
			"schemareg protobuf: schema id 1: not in the Schema Registry wire format: Protobuf message-index count is truncated or malformed"},
		{"negative index count", append(schemareg.AppendHeader(nil, 1), 1), schemareg.ErrNotWireFormat,
			"schemareg protobuf: schema id 1: not in the Schema Registry wire format: Protobuf message-index count -1 is out of range [0, 64]"},
		{"bad magic byte", []byte{1, 0, 0, 0, 1, 0}, schemareg.ErrNotWireFormat,
			"schemareg protobuf: not in the Schema Registry wire format: first byte is 0x01, want the magic byte 0x00"},
		{"unknown id", append(schemareg.AppendHeader(nil, 77), 0), schemareg.ErrUnknownSchema,
			"schemareg protobuf: schema id 77: unknown schema: the registry answered 404 (error code 40403): Schema 77 not found"},
		{"an Avro schema", append(schemareg.AppendHeader(nil, avroID), 0), schemareg.ErrIncompatibleSchema,
			fmt.Sprintf("schemareg protobuf: schema id %d: incompatible schema: a schema of type AVRO, want PROTOBUF", avroID)},
		{"garbage payload", append(schemareg.AppendHeader(nil, 1), 0, 0xff, 0xff, 0xff), schemareg.ErrUndecodable, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := views.DecodeBytes(tc.value)
			require.ErrorIs(t, err, tc.is)
			if tc.msg != "" {
				require.EqualError(t, err, tc.msg)
			}
		})
	}

	t.Run("lookup: the subject's schema must declare the message", func(t *testing.T) {
		reg.Register(t, "other-value", sr.Schema{Schema: "syntax = \"proto3\";\npackage x;\nmessage Y { string a = 1; }\n", Type: sr.TypeProtobuf})
		p := newProto[*testpb.PageView](t, cl, schemareg.ProtobufConfig{Topic: "other"})
		_, err := p.Encode(samplePageView())
		require.ErrorIs(t, err, schemareg.ErrIncompatibleSchema)
		require.EqualError(t, err, `schemareg protobuf: subject "other-value" schema id 3: incompatible schema: the schema declares no message kappa.schemareg.test.PageView`)
	})
	t.Run("lookup: the message index comes from the subject's schema", func(t *testing.T) {
		// The same messages in another order: PageView is message 1 there.
		text := "syntax = \"proto3\";\npackage kappa.schemareg.test;\n// } { comments and \"strings\" are skipped\nmessage Other { option deprecated = true; }\nmessage PageView { string url = 1; }\n"
		id := reg.Register(t, "reordered-value", sr.Schema{Schema: text, Type: sr.TypeProtobuf})
		p := newProto[*testpb.PageView](t, cl, schemareg.ProtobufConfig{Topic: "reordered"})
		b, err := p.AppendEncode(nil, &testpb.PageView{Url: "/r"})
		require.NoError(t, err)
		require.Equal(t, append(schemareg.AppendHeader(nil, id), 2, 2), b[:7])
		v, err := p.DecodeBytes(b)
		require.NoError(t, err)
		require.Equal(t, "/r", v.GetUrl())
	})
}

// Protobuf evolution: writers with a field more or fewer than T, built as dynamic messages of edited copies of
// T's file (same message name, as a new version of the .proto would be).
func TestProtobufEvolution(t *testing.T) {
	t.Parallel()
	reg := srtest.Start(t)
	cl := reg.Client(t)
	edit := func(f func(m *descriptorpb.DescriptorProto)) protoreflect.MessageDescriptor {
		fdp := protodesc.ToFileDescriptorProto(testpb.File_pageview_proto)
		f(fdp.MessageType[0])
		fd, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
		require.NoError(t, err)
		return fd.Messages().ByName("PageView")
	}
	// v2 adds field 30.
	v2 := edit(func(m *descriptorpb.DescriptorProto) {
		m.Field = append(m.Field, &descriptorpb.FieldDescriptorProto{Name: proto.String("country"), Number: proto.Int32(30),
			Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(), Type: descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum(), JsonName: proto.String("country")})
	})
	// v0 has only url, user and millis.
	v0 := edit(func(m *descriptorpb.DescriptorProto) { m.Field = m.Field[:3]; m.OneofDecl = nil })

	write := func(md protoreflect.MessageDescriptor, set map[string]any) []byte {
		text, err := schemareg.ProtoSource(md)
		require.NoError(t, err)
		id, err := cl.RegisterSchema(ctxT(t), "views-value", sr.Schema{Schema: text, Type: sr.TypeProtobuf}, -1, -1)
		require.NoError(t, err)
		m := dynamicpb.NewMessage(md)
		for name, v := range set {
			m.Set(md.Fields().ByName(protoreflect.Name(name)), protoreflect.ValueOf(v))
		}
		b, err := proto.Marshal(m)
		require.NoError(t, err)
		return append(append(schemareg.AppendHeader(nil, id), 0), b...)
	}
	r := newProto[*testpb.PageView](t, cl, schemareg.ProtobufConfig{})

	t.Run("the writer has a field more", func(t *testing.T) {
		v, err := r.DecodeBytes(write(v2, map[string]any{"url": "/a", "millis": int64(5), "country": "fr"}))
		require.NoError(t, err)
		require.Equal(t, "/a", v.GetUrl())
		require.Equal(t, int64(5), v.GetMillis())
		require.NotEmpty(t, v.ProtoReflect().GetUnknown(), "field 30 is kept as an unknown field")
		again, err := proto.Marshal(v)
		require.NoError(t, err)
		back := dynamicpb.NewMessage(v2)
		require.NoError(t, proto.Unmarshal(again, back))
		require.Equal(t, "fr", back.Get(v2.Fields().ByName("country")).String(), "and written again")
	})
	t.Run("the writer has fields fewer", func(t *testing.T) {
		v, err := r.DecodeBytes(write(v0, map[string]any{"url": "/b", "user": "u"}))
		require.NoError(t, err)
		require.Equal(t, "/b", v.GetUrl())
		require.Equal(t, "u", v.GetUser())
		require.Nil(t, v.GetInner())
		require.Nil(t, v.Referrer)
	})
}

// ProtoSource prints the file as registered: compared with a golden file, and compiled again by protoc into the
// same descriptor (a proto2 file with what proto3 lacks too).
func TestProtoSource(t *testing.T) {
	t.Parallel()
	got, err := schemareg.ProtoSource((&testpb.PageView{}).ProtoReflect().Descriptor())
	require.NoError(t, err)
	golden := filepath.Join("testdata", "pageview.golden.proto")
	if *update {
		require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	require.Equal(t, string(want), got)

	protoc := protocPath(t)
	if protoc == "" {
		return
	}
	t.Run("generated proto3 file", func(t *testing.T) {
		roundTrip(t, protoc, protodesc.ToFileDescriptorProto(testpb.File_pageview_proto))
	})
	t.Run("proto2 file", func(t *testing.T) {
		src := compile(t, protoc, "testdata", "proto2.proto")
		roundTrip(t, protoc, src)
	})

	t.Run("refused", func(t *testing.T) {
		fdp := &descriptorpb.FileDescriptorProto{Name: proto.String("x.proto"), Syntax: proto.String("proto3"),
			Dependency:  []string{"other/dep.proto"},
			MessageType: []*descriptorpb.DescriptorProto{{Name: proto.String("M")}}}
		dep := &descriptorpb.FileDescriptorProto{Name: proto.String("other/dep.proto"), Syntax: proto.String("proto3")}
		files, err := protodesc.NewFiles(&descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{dep, fdp}})
		require.NoError(t, err)
		fd, err := files.FindFileByPath("x.proto")
		require.NoError(t, err)
		_, err = schemareg.ProtoSource(fd.Messages().Get(0))
		require.EqualError(t, err, "x.proto imports other/dep.proto: unsupported operation: imports other than google/protobuf's well-known types need schema references; register the files yourself")
	})
}

// protocPath finds protoc (installed by make test-deps); without it the protoc checks are skipped, unless
// KAPPA_REQUIRE_SERVICES=1.
func protocPath(t *testing.T) string {
	p, err := exec.LookPath("protoc")
	if err != nil {
		if os.Getenv("KAPPA_REQUIRE_SERVICES") == "1" {
			t.Fatalf("protoc is not on PATH (make test-deps installs it): %v", err)
		}
		t.Log("protoc is not on PATH; the protoc round trips are skipped (make test-deps installs it)")
		return ""
	}
	return p
}

// compile runs protoc on dir/name and returns the file's descriptor.
func compile(t *testing.T, protoc, dir, name string) *descriptorpb.FileDescriptorProto {
	t.Helper()
	out := filepath.Join(t.TempDir(), "set.pb")
	cmd := exec.Command(protoc, "-I", dir, "-I", "/usr/include", "--descriptor_set_out="+out, name)
	msg, err := cmd.CombinedOutput()
	require.NoError(t, err, "protoc: %s", msg)
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	var set descriptorpb.FileDescriptorSet
	require.NoError(t, proto.Unmarshal(b, &set))
	require.Len(t, set.File, 1)
	return set.File[0]
}

// roundTrip prints src, compiles the text with protoc and compares the descriptors (file options, which
// ProtoSource leaves out, aside).
func roundTrip(t *testing.T, protoc string, src *descriptorpb.FileDescriptorProto) {
	t.Helper()
	fd, err := protodesc.NewFile(src, protoregistry.GlobalFiles)
	require.NoError(t, err)
	text, err := schemareg.ProtoSource(fd.Messages().Get(0))
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, src.GetName()), []byte(text), 0o644))
	got := compile(t, protoc, dir, src.GetName())
	want := proto.Clone(src).(*descriptorpb.FileDescriptorProto)
	want.Options, want.SourceCodeInfo = nil, nil
	require.True(t, proto.Equal(want, got), "printed:\n%s\nwant:\n%s\ngot:\n%s", text, prototext.Format(want), prototext.Format(got))
}
