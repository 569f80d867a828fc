package diagram

import (
	"fmt"
	"html"
	"io"
	"strings"
	"unicode/utf8"
)

// The SVG is laid out here, in rows, the way a request travels: the
// internet, the DNS record, the load balancer and its target group, then
// the AZs side by side (inside the Auto Scaling group's boundary) with
// their subnets and instances, and notes at the bottom. No graph-layout
// program is needed, so `wtt diagram -o svg` works on any machine.

const (
	fontSize   = 11
	charWidth  = 6.7 // Helvetica at 11px, a little generous
	lineHeight = 15
	boxPad     = 8
	gap        = 14
	margin     = 20
	perRow     = 3 // instances side by side in a subnet
)

type rect struct{ x, y, w, h float64 }

func (r rect) cx() float64     { return r.x + r.w/2 }
func (r rect) bottom() float64 { return r.y + r.h }

func textWidth(s string) float64 { return float64(utf8.RuneCountInString(s)) * charWidth }

func boxSize(n Node) (float64, float64) {
	w := 110.0
	for _, l := range n.Lines {
		w = max(w, textWidth(l)+2*boxPad)
	}
	return w, float64(len(n.Lines))*lineHeight + 2*boxPad - 4
}

// item is an instance with the Elastic IP drawn just above it.
type item struct {
	eip, inst *Node
	w, h      float64
}

type svgLayout struct {
	g      Graph
	pos    map[string]rect
	frames []frame // AZ, subnet and group boxes, outermost first
	w, h   float64
}

type frame struct {
	r      rect
	title  string
	dashed bool
	fill   string
}

func layout(g Graph) *svgLayout {
	L := &svgLayout{g: g, pos: map[string]rect{}}
	y := float64(margin) + 22 // below the title

	var top, bottom []Node
	for _, n := range g.Nodes {
		switch {
		case n.AZ != "":
		case n.Kind == KindNote || n.Kind == KindEIP:
			bottom = append(bottom, n)
		default:
			top = append(top, n)
		}
	}

	// The AZ area is measured first: its width centres everything else.
	type subnetBox struct {
		sn    Subnet
		rows  [][]item
		w, h  float64
		title string
	}
	type azBox struct {
		az      string
		subnets []*subnetBox
		w, h    float64
	}
	var azs []*azBox
	areaW, areaH := 0.0, 0.0
	for _, az := range g.AZs {
		ab := &azBox{az: az}
		for _, sn := range g.Subnets {
			if sn.AZ != az {
				continue
			}
			sb := &subnetBox{sn: sn, title: subnetTitle(sn)}
			var items []item
			for k := range g.Nodes {
				n := &g.Nodes[k]
				if n.Subnet != sn.ID || n.Kind != KindInstance {
					continue
				}
				it := item{inst: n}
				it.w, it.h = boxSize(*n)
				for j := range g.Nodes {
					if e := &g.Nodes[j]; e.Kind == KindEIP && e.Of == n.ID {
						it.eip = e
						ew, eh := boxSize(*e)
						it.w = max(it.w, ew)
						it.h += eh + 10
					}
				}
				items = append(items, it)
			}
			for len(items) > 0 {
				k := min(perRow, len(items))
				sb.rows = append(sb.rows, items[:k])
				items = items[k:]
			}
			sb.w = textWidth(sb.title) + 2*boxPad
			sb.h = 22
			for _, row := range sb.rows {
				rw, rh := 0.0, 0.0
				for _, it := range row {
					rw += it.w + gap
					rh = max(rh, it.h)
				}
				sb.w = max(sb.w, rw-gap+2*boxPad)
				sb.h += rh + gap
			}
			ab.subnets = append(ab.subnets, sb)
		}
		ab.w = textWidth(az) + 2*boxPad
		ab.h = 26
		for _, sb := range ab.subnets {
			ab.w = max(ab.w, sb.w+2*boxPad)
			ab.h += sb.h + 10
		}
		azs = append(azs, ab)
		areaW += ab.w + gap
		areaH = max(areaH, ab.h)
	}
	if len(azs) > 0 {
		areaW -= gap
	}
	asgPad := 0.0
	if g.ASG != "" && len(azs) > 0 {
		asgPad = 14
		areaW = max(areaW+2*asgPad, textWidth(g.ASGLabel)+2*boxPad)
		areaH += 2*asgPad + 16
	}

	width := areaW
	for _, n := range top {
		w, _ := boxSize(n)
		width = max(width, w)
	}
	bottomW := 0.0
	for _, n := range bottom {
		w, _ := boxSize(n)
		bottomW += w + gap
	}
	width = max(width, bottomW-gap)
	L.w = width + 2*margin
	center := L.w / 2

	// The DNS record sits beside the internet, which asks it where to go;
	// requests then travel down the rows.
	for k := 0; k < len(top); k++ {
		n := top[k]
		w, h := boxSize(n)
		if n.Kind == KindInternet && k+1 < len(top) && top[k+1].Kind == KindDNS {
			dw, dh := boxSize(top[k+1])
			L.pos[n.ID] = rect{center - w/2, y, w, h}
			L.pos[top[k+1].ID] = rect{center + w/2 + 60, y + (h-dh)/2, dw, dh}
			L.w = max(L.w, center+w/2+60+dw+margin)
			h = max(h, dh)
			k++
		} else {
			L.pos[n.ID] = rect{center - w/2, y, w, h}
		}
		y += h + 44 // room for the edge label between rows
	}

	if len(azs) > 0 {
		areaTop := y
		x := center - areaW/2
		if asgPad > 0 {
			L.frames = append(L.frames, frame{r: rect{x, y, areaW, areaH}, title: g.ASGLabel, dashed: true, fill: "#fbfbf4"})
			x += asgPad
			y += asgPad + 16
		}
		for _, ab := range azs {
			L.frames = append(L.frames, frame{r: rect{x, y, ab.w, ab.h}, title: ab.az, fill: "#f7f9fc"})
			sy := y + 26
			for _, sb := range ab.subnets {
				sx := x + (ab.w-sb.w)/2
				L.frames = append(L.frames, frame{r: rect{sx, sy, sb.w, sb.h}, title: sb.title, dashed: true, fill: "#ffffff"})
				ry := sy + 22
				for _, row := range sb.rows {
					ix, rh := sx+boxPad, 0.0
					for _, it := range row {
						iy := ry
						if it.eip != nil {
							ew, eh := boxSize(*it.eip)
							L.pos[it.eip.ID] = rect{ix + (it.w-ew)/2, iy, ew, eh}
							iy += eh + 10
						}
						iw, ih := boxSize(*it.inst)
						L.pos[it.inst.ID] = rect{ix + (it.w-iw)/2, iy, iw, ih}
						ix += it.w + gap
						rh = max(rh, it.h)
					}
					ry += rh + gap
				}
				sy += sb.h + 10
			}
			x += ab.w + gap
		}
		y = areaTop + areaH + 30
	}

	if len(bottom) > 0 {
		x := center - (bottomW-gap)/2
		rowH := 0.0
		for _, n := range bottom {
			w, h := boxSize(n)
			L.pos[n.ID] = rect{x, y, w, h}
			x += w + gap
			rowH = max(rowH, h)
		}
		y += rowH
	}
	L.h = y + margin
	return L
}

// SVG writes the picture as a standalone SVG document.
func SVG(w io.Writer, g Graph) error {
	L := layout(g)
	b := &strings.Builder{}
	esc := html.EscapeString
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="Helvetica, Arial, sans-serif" font-size="%d">`+"\n",
		L.w, L.h, L.w, L.h, fontSize)
	fmt.Fprintf(b, "<title>%s</title>\n", esc(fmt.Sprintf("%s (stage %s)", g.App, g.Stage)))
	b.WriteString(`<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>` + "\n")
	fmt.Fprintf(b, `<rect width="100%%" height="100%%" fill="#ffffff"/>`+"\n")
	fmt.Fprintf(b, `<text x="%d" y="%d" font-size="14" font-weight="bold">%s</text>`+"\n", margin, margin+6, esc(fmt.Sprintf("%s — stage %s", g.App, g.Stage)))

	for _, f := range L.frames {
		dash := ""
		if f.dashed {
			dash = ` stroke-dasharray="5,4"`
		}
		fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" rx="6" fill="%s" stroke="#8a94a6"%s/>`+"\n", f.r.x, f.r.y, f.r.w, f.r.h, f.fill, dash)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" fill="#445" font-size="10">%s</text>`+"\n", f.r.x+boxPad, f.r.y+14, esc(f.title))
	}

	// Edges under the boxes; one label per (source, label) pair, so a fleet
	// behind one rule is not labelled thirty times.
	labelled := map[string]bool{}
	for _, e := range g.Edges {
		from, ok1 := L.pos[e.From]
		to, ok2 := L.pos[e.To]
		if !ok1 || !ok2 {
			continue
		}
		x1, y1, x2, y2 := from.cx(), from.bottom(), to.cx(), to.y
		switch {
		case to.bottom() <= from.y: // pointing up (a note below)
			y1, y2 = from.y, to.bottom()
		case to.y < from.bottom(): // side by side
			x1, y1, y2 = from.x+from.w, from.y+from.h/2, to.y+to.h/2
			x2 = to.x
		}
		dash := ""
		if e.Dashed {
			dash = ` stroke-dasharray="4,3"`
		}
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#555" stroke-width="1.2" marker-end="url(#arrow)"%s/>`+"\n", x1, y1, x2, y2, dash)
		key := e.From + "|" + e.Label
		if e.Label != "" && !labelled[key] {
			labelled[key] = true
			mx, my := x1+(x2-x1)*0.3, y1+(y2-y1)*0.3+4
			tw := textWidth(e.Label) * 0.9
			fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="14" fill="#ffffff" opacity="0.85"/>`+"\n", mx-tw/2-2, my-10, tw+4)
			fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="10" fill="#333">%s</text>`+"\n", mx, my+1, esc(e.Label))
		}
	}

	for _, n := range g.Nodes {
		r, ok := L.pos[n.ID]
		if !ok {
			continue
		}
		rx := 6
		if n.Kind == KindInternet {
			rx = int(r.h / 2)
		}
		dash := ""
		if n.Kind == KindNote {
			dash = ` stroke-dasharray="3,3"`
		}
		fmt.Fprintf(b, `<g class="%s" id="%s">`, n.Kind, esc(safeID(n.ID)))
		fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" rx="%d" fill="%s" stroke="#5b6577"%s/>`, r.x, r.y, r.w, r.h, rx, fill(n.Kind), dash)
		for k, l := range n.Lines {
			weight := ""
			if k == 0 {
				weight = ` font-weight="bold"`
			}
			fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle"%s>%s</text>`, r.cx(), r.y+boxPad+float64(k)*lineHeight+9, weight, esc(l))
		}
		b.WriteString("</g>\n")
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}
