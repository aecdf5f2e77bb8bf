package schemareg

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

// protoSource prints a file descriptor as .proto source, the text registered for a Protobuf schema: syntax,
// package, imports, and every message (fields with labels, maps, oneofs, proto3 optional, proto2 defaults,
// explicit packed and json_name options, reserved ranges and names, extension ranges) and enum, in declaration
// order, so message indexes are the same as in the original file. Services and file options are left out; they
// do not change how records decode. Imports other than google/protobuf's well-known types, extensions, groups
// and editions are refused: their text would need schema references.
func protoSource(fd protoreflect.FileDescriptor) (string, error) {
	var p protoPrinter
	switch fd.Syntax() {
	case protoreflect.Proto2:
		p.line(0, `syntax = "proto2";`)
		p.proto2 = true
	case protoreflect.Proto3:
		p.line(0, `syntax = "proto3";`)
	default:
		return "", fmt.Errorf("%s: %w: protobuf editions", fd.Path(), errors.ErrUnsupported)
	}
	if fd.Package() != "" {
		p.line(0, "")
		p.line(0, "package "+string(fd.Package())+";")
	}
	if fd.Imports().Len() > 0 {
		p.line(0, "")
	}
	for i := range fd.Imports().Len() {
		imp := fd.Imports().Get(i)
		if !strings.HasPrefix(imp.Path(), "google/protobuf/") {
			return "", fmt.Errorf("%s imports %s: %w: imports other than google/protobuf's well-known types need schema references; register the files yourself",
				fd.Path(), imp.Path(), errors.ErrUnsupported)
		}
		kw := "import "
		if imp.IsPublic {
			kw = "import public "
		} else if imp.IsWeak {
			kw = "import weak "
		}
		p.line(0, kw+strconv.Quote(imp.Path())+";")
	}
	if fd.Extensions().Len() > 0 {
		return "", fmt.Errorf("%s declares extensions: %w", fd.Path(), errors.ErrUnsupported)
	}
	for i := range fd.Messages().Len() {
		p.line(0, "")
		if err := p.message(0, fd.Messages().Get(i)); err != nil {
			return "", err
		}
	}
	for i := range fd.Enums().Len() {
		p.line(0, "")
		p.enum(0, fd.Enums().Get(i))
	}
	return p.b.String(), nil
}

type protoPrinter struct {
	b      strings.Builder
	proto2 bool
}

func (p *protoPrinter) line(depth int, s string) {
	if s != "" {
		p.b.WriteString(strings.Repeat("  ", depth))
		p.b.WriteString(s)
	}
	p.b.WriteByte('\n')
}

func (p *protoPrinter) message(depth int, md protoreflect.MessageDescriptor) error {
	if md.Extensions().Len() > 0 {
		return fmt.Errorf("%s declares extensions: %w", md.FullName(), errors.ErrUnsupported)
	}
	p.line(depth, "message "+string(md.Name())+" {")
	fields := md.Fields()
	printed := map[protoreflect.OneofDescriptor]bool{}
	for i := range fields.Len() {
		f := fields.Get(i)
		if od := f.ContainingOneof(); od != nil && !od.IsSynthetic() {
			if printed[od] {
				continue
			}
			printed[od] = true
			p.line(depth+1, "oneof "+string(od.Name())+" {")
			for j := range od.Fields().Len() {
				s, err := p.field(od.Fields().Get(j), true)
				if err != nil {
					return err
				}
				p.line(depth+2, s)
			}
			p.line(depth+1, "}")
			continue
		}
		s, err := p.field(f, false)
		if err != nil {
			return err
		}
		p.line(depth+1, s)
	}
	for i := range md.ExtensionRanges().Len() {
		r := md.ExtensionRanges().Get(i)
		p.line(depth+1, "extensions "+fieldRange(r[0], r[1]-1)+";")
	}
	for i := range md.ReservedRanges().Len() {
		r := md.ReservedRanges().Get(i)
		p.line(depth+1, "reserved "+fieldRange(r[0], r[1]-1)+";")
	}
	if names := md.ReservedNames(); names.Len() > 0 {
		p.line(depth+1, "reserved "+reservedNames(names)+";")
	}
	for i := range md.Messages().Len() {
		nested := md.Messages().Get(i)
		if nested.IsMapEntry() {
			continue
		}
		p.line(0, "")
		if err := p.message(depth+1, nested); err != nil {
			return err
		}
	}
	for i := range md.Enums().Len() {
		p.line(0, "")
		p.enum(depth+1, md.Enums().Get(i))
	}
	p.line(depth, "}")
	return nil
}

func fieldRange(lo, hi protoreflect.FieldNumber) string {
	if lo == hi {
		return strconv.Itoa(int(lo))
	}
	if hi == maxFieldNumber {
		return strconv.Itoa(int(lo)) + " to max"
	}
	return strconv.Itoa(int(lo)) + " to " + strconv.Itoa(int(hi))
}

func reservedNames(names protoreflect.Names) string {
	q := make([]string, names.Len())
	for i := range q {
		q[i] = strconv.Quote(string(names.Get(i)))
	}
	return strings.Join(q, ", ")
}

// field prints one field declaration.
func (p *protoPrinter) field(f protoreflect.FieldDescriptor, inOneof bool) (string, error) {
	if f.Kind() == protoreflect.GroupKind {
		return "", fmt.Errorf("%s is a group: %w", f.FullName(), errors.ErrUnsupported)
	}
	var s strings.Builder
	switch {
	case f.IsMap():
		s.WriteString("map<" + typeName(f.MapKey()) + ", " + typeName(f.MapValue()) + "> ")
	default:
		if !inOneof {
			switch {
			case f.Cardinality() == protoreflect.Repeated:
				s.WriteString("repeated ")
			case f.Cardinality() == protoreflect.Required:
				s.WriteString("required ")
			case p.proto2 || f.HasOptionalKeyword():
				s.WriteString("optional ")
			}
		}
		s.WriteString(typeName(f) + " ")
	}
	s.WriteString(string(f.Name()) + " = " + strconv.Itoa(int(f.Number())))
	var opts []string
	if p.proto2 && f.HasDefault() {
		opts = append(opts, "default = "+defaultValue(f))
	}
	if fo, ok := f.Options().(*descriptorpb.FieldOptions); ok && fo != nil && fo.Packed != nil {
		opts = append(opts, "packed = "+strconv.FormatBool(fo.GetPacked()))
	}
	if f.HasJSONName() && f.JSONName() != defaultJSONName(string(f.Name())) {
		opts = append(opts, "json_name = "+strconv.Quote(f.JSONName()))
	}
	if len(opts) > 0 {
		s.WriteString(" [" + strings.Join(opts, ", ") + "]")
	}
	s.WriteString(";")
	return s.String(), nil
}

// typeName is a field's type: a scalar's keyword, or a message's or enum's full name with a leading dot.
func typeName(f protoreflect.FieldDescriptor) string {
	switch f.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return "." + string(f.Message().FullName())
	case protoreflect.EnumKind:
		return "." + string(f.Enum().FullName())
	}
	return f.Kind().String() // "int32", "sfixed64", "bytes", ...
}

// defaultJSONName is protoc's lowerCamelCase of a field name.
func defaultJSONName(name string) string {
	var b strings.Builder
	up := false
	for _, c := range name {
		if c == '_' {
			up = true
			continue
		}
		if up && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		up = false
		b.WriteRune(c)
	}
	return b.String()
}

// defaultValue prints a proto2 default.
func defaultValue(f protoreflect.FieldDescriptor) string {
	v := f.Default()
	switch f.Kind() {
	case protoreflect.EnumKind:
		return string(f.DefaultEnumValue().Name())
	case protoreflect.StringKind:
		return strconv.Quote(v.String())
	case protoreflect.BytesKind:
		return quoteBytes(v.Bytes())
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		x := v.Float()
		switch {
		case math.IsInf(x, 1):
			return "inf"
		case math.IsInf(x, -1):
			return "-inf"
		case math.IsNaN(x):
			return "nan"
		}
		bits := 64
		if f.Kind() == protoreflect.FloatKind {
			bits = 32
		}
		return strconv.FormatFloat(x, 'g', -1, bits)
	}
	return v.String()
}

// quoteBytes quotes bytes with octal escapes for everything but printable ASCII.
func quoteBytes(b []byte) string {
	var s strings.Builder
	s.WriteByte('"')
	for _, c := range b {
		switch {
		case c == '"' || c == '\\':
			s.WriteByte('\\')
			s.WriteByte(c)
		case c >= 0x20 && c < 0x7f:
			s.WriteByte(c)
		default:
			fmt.Fprintf(&s, "\\%03o", c)
		}
	}
	s.WriteByte('"')
	return s.String()
}

func (p *protoPrinter) enum(depth int, ed protoreflect.EnumDescriptor) {
	p.line(depth, "enum "+string(ed.Name())+" {")
	if eo, ok := ed.Options().(*descriptorpb.EnumOptions); ok && eo != nil && eo.GetAllowAlias() {
		p.line(depth+1, "option allow_alias = true;")
	}
	for i := range ed.Values().Len() {
		v := ed.Values().Get(i)
		p.line(depth+1, string(v.Name())+" = "+strconv.Itoa(int(v.Number()))+";")
	}
	for i := range ed.ReservedRanges().Len() {
		r := ed.ReservedRanges().Get(i)
		if r[0] == r[1] {
			p.line(depth+1, "reserved "+strconv.Itoa(int(r[0]))+";")
		} else if r[1] == math.MaxInt32 {
			p.line(depth+1, "reserved "+strconv.Itoa(int(r[0]))+" to max;")
		} else {
			p.line(depth+1, "reserved "+strconv.Itoa(int(r[0]))+" to "+strconv.Itoa(int(r[1]))+";")
		}
	}
	if names := ed.ReservedNames(); names.Len() > 0 {
		p.line(depth+1, "reserved "+reservedNames(names)+";")
	}
	p.line(depth, "}")
}

// messageIndex is a message's path of indexes among the messages of its file and enclosing messages (map
// entries left out, as the Confluent serializers count them).
func messageIndex(md protoreflect.MessageDescriptor) []int {
	var idx []int
	for d := protoreflect.Descriptor(md); ; {
		parent := d.Parent()
		var siblings protoreflect.MessageDescriptors
		switch p := parent.(type) {
		case protoreflect.MessageDescriptor:
			siblings = p.Messages()
		case protoreflect.FileDescriptor:
			siblings = p.Messages()
		default:
			return idx
		}
		n := 0
		for i := range siblings.Len() {
			s := siblings.Get(i)
			if s.FullName() == d.FullName() {
				break
			}
			if !s.IsMapEntry() {
				n++
			}
		}
		idx = append([]int{n}, idx...)
		if _, ok := parent.(protoreflect.FileDescriptor); ok {
			return idx
		}
		d = parent
	}
}

// maxFieldNumber is the largest Protobuf field number ("max" in ranges).
const maxFieldNumber = 1<<29 - 1
