package diagram

import (
	"fmt"
	"io"
	"regexp"
	"strings"
)

// Formats a diagram is rendered in.
var Formats = []string{"svg", "dot", "mermaid"}

// Render writes the graph in one of Formats.
func Render(w io.Writer, format string, g Graph) error {
	switch format {
	case "svg":
		return SVG(w, g)
	case "dot":
		return Dot(w, g)
	case "mermaid":
		return Mermaid(w, g)
	}
	return fmt.Errorf("unknown diagram format %q (one of: %s)", format, strings.Join(Formats, ", "))
}

var unsafeID = regexp.MustCompile(`[^A-Za-z0-9_]`)

func safeID(id string) string { return "n_" + unsafeID.ReplaceAllString(id, "_") }

func subnetTitle(sn Subnet) string {
	kind := "private"
	if sn.Public {
		kind = "public"
	}
	if strings.HasPrefix(sn.ID, "subnet?") {
		return "subnet unknown"
	}
	return sn.ID + " (" + kind + ")"
}

// Dot writes Graphviz: clusters for the group, each AZ and each subnet.
func Dot(w io.Writer, g Graph) error {
	q := func(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), `"`, `\"`) }
	b := &strings.Builder{}
	fmt.Fprintf(b, "digraph %q {\n", "wtt-"+g.App)
	fmt.Fprintf(b, "  label=\"%s (stage %s)\";\n  labelloc=t;\n  rankdir=TB;\n  node [shape=box, style=\"rounded,filled\", fillcolor=white, fontname=\"Helvetica\", fontsize=11];\n  edge [fontname=\"Helvetica\", fontsize=9];\n", q(g.App), g.Stage)
	nodeLine := func(indent string, n Node) {
		shape := map[string]string{KindInternet: "ellipse", KindNote: "note", KindEIP: "cds"}[n.Kind]
		attrs := ""
		if shape != "" {
			attrs = ", shape=" + shape
		}
		fmt.Fprintf(b, "%s%s [label=\"%s\", fillcolor=\"%s\"%s];\n", indent, safeID(n.ID), q(strings.Join(n.Lines, `\n`)), fill(n.Kind), attrs)
	}
	for _, n := range g.Nodes {
		if n.AZ == "" {
			nodeLine("  ", n)
		}
	}
	indent := "  "
	if g.ASG != "" {
		fmt.Fprintf(b, "  subgraph cluster_asg {\n    label=\"%s\";\n    style=dashed;\n", q(g.ASGLabel))
		indent = "    "
	}
	for _, az := range g.AZs {
		fmt.Fprintf(b, "%ssubgraph %s {\n%s  label=\"%s\";\n%s  style=rounded;\n", indent, "cluster_"+safeID(az), indent, az, indent)
		for _, sn := range g.Subnets {
			if sn.AZ != az {
				continue
			}
			fmt.Fprintf(b, "%s  subgraph %s {\n%s    label=\"%s\";\n%s    style=dotted;\n", indent, "cluster_"+safeID(sn.ID), indent, q(subnetTitle(sn)), indent)
			for _, n := range g.Nodes {
				if n.Subnet == sn.ID {
					nodeLine(indent+"    ", n)
				}
			}
			fmt.Fprintf(b, "%s  }\n", indent)
		}
		fmt.Fprintf(b, "%s}\n", indent)
	}
	if g.ASG != "" {
		b.WriteString("  }\n")
	}
	for _, e := range g.Edges {
		attrs := []string{}
		if e.Label != "" {
			attrs = append(attrs, fmt.Sprintf("label=\"%s\"", q(e.Label)))
		}
		if e.Dashed {
			attrs = append(attrs, "style=dashed")
		}
		fmt.Fprintf(b, "  %s -> %s", safeID(e.From), safeID(e.To))
		if len(attrs) > 0 {
			fmt.Fprintf(b, " [%s]", strings.Join(attrs, ", "))
		}
		b.WriteString(";\n")
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// Mermaid writes a flowchart that GitHub renders in Markdown.
func Mermaid(w io.Writer, g Graph) error {
	q := func(s string) string { return strings.ReplaceAll(s, `"`, "#quot;") }
	b := &strings.Builder{}
	fmt.Fprintf(b, "---\ntitle: %s (stage %s)\n---\nflowchart TB\n", g.App, g.Stage)
	nodeLine := func(indent string, n Node) {
		label := q(strings.Join(n.Lines, "<br/>"))
		switch n.Kind {
		case KindInternet:
			fmt.Fprintf(b, "%s%s((\"%s\"))\n", indent, safeID(n.ID), label)
		case KindEIP:
			fmt.Fprintf(b, "%s%s[/\"%s\"/]\n", indent, safeID(n.ID), label)
		case KindNote:
			fmt.Fprintf(b, "%s%s>\"%s\"]\n", indent, safeID(n.ID), label)
		default:
			fmt.Fprintf(b, "%s%s[\"%s\"]\n", indent, safeID(n.ID), label)
		}
	}
	for _, n := range g.Nodes {
		if n.AZ == "" {
			nodeLine("  ", n)
		}
	}
	indent := "  "
	if g.ASG != "" {
		fmt.Fprintf(b, "  subgraph asg[\"%s\"]\n", q(g.ASGLabel))
		indent = "    "
	}
	for _, az := range g.AZs {
		fmt.Fprintf(b, "%ssubgraph %s[\"%s\"]\n", indent, safeID("az-"+az), az)
		for _, sn := range g.Subnets {
			if sn.AZ != az {
				continue
			}
			fmt.Fprintf(b, "%s  subgraph %s[\"%s\"]\n", indent, safeID("sn-"+sn.ID), q(subnetTitle(sn)))
			for _, n := range g.Nodes {
				if n.Subnet == sn.ID {
					nodeLine(indent+"    ", n)
				}
			}
			fmt.Fprintf(b, "%s  end\n", indent)
		}
		fmt.Fprintf(b, "%send\n", indent)
	}
	if g.ASG != "" {
		b.WriteString("  end\n")
	}
	for _, e := range g.Edges {
		arrow := "-->"
		if e.Dashed {
			arrow = "-.->"
		}
		if e.Label != "" {
			fmt.Fprintf(b, "  %s %s|\"%s\"| %s\n", safeID(e.From), arrow, q(e.Label), safeID(e.To))
		} else {
			fmt.Fprintf(b, "  %s %s %s\n", safeID(e.From), arrow, safeID(e.To))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// fill is a node's colour, by kind (AWS's own service colours, softened).
func fill(kind string) string {
	switch kind {
	case KindInternet:
		return "#eef3fb"
	case KindDNS:
		return "#efe7fb"
	case KindLB, KindTG:
		return "#e9f5ef"
	case KindInstance:
		return "#fff3e3"
	case KindEIP:
		return "#fdecec"
	}
	return "#f6f6f6"
}
