package schemareg

import (
	"fmt"
	"strings"
)

// protoTree is the message structure of a .proto source: its package and messages, nested messages in
// declaration order. It is what Protobuf message indexes point into; protoMessages reads just that much of the
// source (the registry serves schemas as text, and Go's protobuf module has no .proto parser).
type protoTree struct {
	pkg      string
	messages []*protoNode
}

type protoNode struct {
	name   string
	nested []*protoNode
}

// fullName resolves a message index to the message's full name.
func (t *protoTree) fullName(idx []int) (string, bool) {
	names := make([]string, 0, len(idx)+1)
	if t.pkg != "" {
		names = append(names, t.pkg)
	}
	level := t.messages
	for _, i := range idx {
		if i < 0 || i >= len(level) {
			return "", false
		}
		names = append(names, level[i].name)
		level = level[i].nested
	}
	return strings.Join(names, "."), len(idx) > 0
}

// index finds a message by full name.
func (t *protoTree) index(fullName string) ([]int, bool) {
	rest := fullName
	if t.pkg != "" {
		if !strings.HasPrefix(fullName, t.pkg+".") {
			return nil, false
		}
		rest = fullName[len(t.pkg)+1:]
	}
	var idx []int
	level := t.messages
	for _, name := range strings.Split(rest, ".") {
		found := false
		for i, n := range level {
			if n.name == name {
				idx = append(idx, i)
				level = n.nested
				found = true
				break
			}
		}
		if !found {
			return nil, false
		}
	}
	return idx, true
}

// protoMessages reads the package and the message declarations of a .proto source, skipping everything else
// (fields, options, enums, services, extend blocks). Groups inside oneofs and extend blocks are not seen.
func protoMessages(src string) (*protoTree, error) {
	toks, err := protoTokens(src)
	if err != nil {
		return nil, err
	}
	t := &protoTree{}
	p := &tokParser{toks: toks}
	t.messages, err = p.body(true, t)
	if err != nil {
		return nil, err
	}
	if p.i < len(p.toks) {
		return nil, fmt.Errorf("unexpected %q at top level", p.toks[p.i])
	}
	return t, nil
}

type tokParser struct {
	toks []string
	i    int
}

func (p *tokParser) next() string {
	if p.i >= len(p.toks) {
		return ""
	}
	t := p.toks[p.i]
	p.i++
	return t
}

// skipBlock skips to the brace closing the one just read.
func (p *tokParser) skipBlock() error {
	for depth := 1; depth > 0; {
		switch p.next() {
		case "{":
			depth++
		case "}":
			depth--
		case "":
			return fmt.Errorf("unbalanced braces")
		}
	}
	return nil
}

// body reads statements up to the closing brace of a message (or the end, at top level) and returns the
// messages declared in it.
func (p *tokParser) body(top bool, t *protoTree) ([]*protoNode, error) {
	var out []*protoNode
	for {
		tok := p.next()
		switch tok {
		case "":
			if top {
				return out, nil
			}
			return nil, fmt.Errorf("unterminated message")
		case "}":
			if top {
				p.i--
				return out, nil
			}
			return out, nil
		case ";":
			continue
		case "package":
			if top {
				t.pkg = p.next()
			}
		case "message":
			name := p.next()
			if p.next() != "{" {
				return nil, fmt.Errorf("message %s: want {", name)
			}
			nested, err := p.body(false, t)
			if err != nil {
				return nil, fmt.Errorf("message %s: %w", name, err)
			}
			out = append(out, &protoNode{name: name, nested: nested})
			continue
		}
		if err := p.statement(tok, &out, t); err != nil {
			return nil, err
		}
	}
}

// statement skips any other statement, first being its first token: up to its ';', or through its block
// (enum, oneof, service, extend, an option's aggregate value). A group declares a nested message.
func (p *tokParser) statement(first string, out *[]*protoNode, t *protoTree) error {
	group := ""
	for tok := first; ; tok = p.next() {
		switch tok {
		case "":
			return fmt.Errorf("unterminated statement")
		case ";":
			return nil
		case "}":
			p.i-- // the enclosing block's end
			return nil
		case "group":
			if p.i < len(p.toks) {
				group = p.toks[p.i]
			}
		case "{":
			if group == "" {
				return p.skipBlock()
			}
			nested, err := p.body(false, t)
			if err != nil {
				return fmt.Errorf("group %s: %w", group, err)
			}
			*out = append(*out, &protoNode{name: group, nested: nested})
			return nil
		}
	}
}

// protoTokens splits .proto source into identifiers (dotted names and numbers included), string literals and
// single punctuation characters, dropping whitespace and comments.
func protoTokens(src string) ([]string, error) {
	var toks []string
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
		case strings.HasPrefix(src[i:], "//"):
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case strings.HasPrefix(src[i:], "/*"):
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return nil, fmt.Errorf("unterminated comment")
			}
			i += end + 4
		case c == '"' || c == '\'':
			j := i + 1
			for ; j < len(src) && src[j] != c; j++ {
				if src[j] == '\\' {
					j++
				}
			}
			if j >= len(src) {
				return nil, fmt.Errorf("unterminated string")
			}
			toks = append(toks, src[i:j+1])
			i = j + 1
		case isIdent(c):
			j := i
			for j < len(src) && isIdent(src[j]) {
				j++
			}
			toks = append(toks, src[i:j])
			i = j
		default:
			toks = append(toks, src[i:i+1])
			i++
		}
	}
	return toks, nil
}

func isIdent(c byte) bool {
	return c == '_' || c == '.' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
