package pipeline

import (
	"fmt"
	"sort"
	"strings"
)

func opName(op any) string {
	if s, ok := op.(fmt.Stringer); ok {
		return s.String()
	}
	return fmt.Sprintf("%T", op)
}

// String prints the graph as text: one line per transform, with its operator, inputs and outputs.
//
//	wordcount/Split: FlatMap  in: Read.out0  out: wordcount/Split.out0 (string)
func (p *Pipeline) String() string {
	var b strings.Builder
	for _, t := range p.transforms {
		fmt.Fprintf(&b, "%s: %s", t.name, opName(t.op))
		if len(t.inputs) > 0 {
			b.WriteString("  in:")
			for _, c := range t.inputs {
				fmt.Fprintf(&b, " %s", c)
			}
		}
		if len(t.outputs) > 0 {
			b.WriteString("  out:")
			for _, c := range t.outputs {
				fmt.Fprintf(&b, " %s (%s)", c, c.typ.TypeName())
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// Dot prints the graph in Graphviz DOT: transforms are boxes, grouped in a cluster per scope; edges are
// collections labelled with their element types.
func (p *Pipeline) Dot() string {
	var b strings.Builder
	b.WriteString("digraph pipeline {\n  rankdir=TB;\n  node [shape=box, fontname=\"Helvetica\"];\n")
	// Group transforms by scope path (everything before the last '/').
	byScope := map[string][]*Transform{}
	for _, t := range p.transforms {
		scope := ""
		if i := strings.LastIndexByte(t.name, '/'); i >= 0 {
			scope = t.name[:i]
		}
		byScope[scope] = append(byScope[scope], t)
	}
	scopes := make([]string, 0, len(byScope))
	for s := range byScope {
		scopes = append(scopes, s)
	}
	sort.Strings(scopes)
	for i, s := range scopes {
		indent := "  "
		if s != "" {
			fmt.Fprintf(&b, "  subgraph cluster_%d {\n    label=%q;\n", i, s)
			indent = "    "
		}
		for _, t := range byScope[s] {
			leaf := t.name[strings.LastIndexByte(t.name, '/')+1:]
			fmt.Fprintf(&b, "%sn%d [label=%q];\n", indent, t.id, leaf+"\n"+opName(t.op))
		}
		if s != "" {
			b.WriteString("  }\n")
		}
	}
	for _, c := range p.collections {
		for _, t := range c.consumers {
			fmt.Fprintf(&b, "  n%d -> n%d [label=%q];\n", c.producer.id, t.id, c.typ.TypeName())
		}
	}
	b.WriteString("}\n")
	return b.String()
}
