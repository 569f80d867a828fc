package tutorial

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A normaliser turns what changes from run to run — resource IDs, addresses,
// timestamps, measured durations — into stable placeholders, so the same
// story always gives the same text. One normaliser serves the whole
// tutorial: an ID keeps its placeholder from its first appearance to the
// last, so a reader can follow i-00000000000000002 from the plan that
// launches it to the status that lists it.
type normaliser struct {
	seen   map[string]string // real value -> placeholder
	counts map[string]int    // placeholder family -> how many given out
}

func newNormaliser() *normaliser {
	return &normaliser{seen: map[string]string{}, counts: map[string]int{}}
}

// A rule finds one kind of changing value and names its placeholder.
type rule struct {
	re          *regexp.Regexp
	placeholder func(n *normaliser, match string) string
}

// rules are applied in order to every line. Add one here when wtt starts
// printing a new kind of changing value (for example what --probe measures).
var rules = []rule{
	// Measured durations: "done (1.39s)", "Done: 3 step(s) in 5.653s."
	// (Durations wtt predicts, such as "about 2m0s", are kept.)
	{regexp.MustCompile(`\b(done \(|step\(s\) in )` + duration), func(_ *normaliser, m string) string {
		return m[:strings.LastIndexAny(m, "( ")+1] + "<t>"
	}},
	// A long wait's progress ("30s left: ..."): how many lines it prints
	// and what each says depend on the clock, so every one says "<t> left"
	// and text keeps one of a run of them.
	{progressLine, func(_ *normaliser, m string) string {
		return m[:len(m)-len(strings.TrimLeft(m, " "))] + "<t> left:"
	}},
	// ARNs carry account-wide random suffixes.
	{regexp.MustCompile(`\barn:aws:[a-z0-9-]+:[a-z0-9-]*:\d{12}:[^\s,)]+`), func(n *normaliser, m string) string {
		parts := strings.SplitN(m, ":", 6)
		kind, _, _ := strings.Cut(parts[5], "/")
		return n.get("arn-"+parts[2]+kind, m, func(k int) string {
			return strings.Join(parts[:5], ":") + ":" + kind + "/" + strconv.Itoa(k)
		})
	}},
	// Timestamps and dates (a reservation's end is a year from today).
	{regexp.MustCompile(`\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})`), fixed("YYYY-MM-DDThh:mm:ssZ")},
	{regexp.MustCompile(`\b\d{4}-\d{2}-\d{2}\b`), fixed("YYYY-MM-DD")},
	// UUIDs (Reserved Instance IDs, among others).
	{regexp.MustCompile(`\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b`), func(n *normaliser, m string) string {
		return n.get("uuid", m, func(k int) string { return fmt.Sprintf("00000000-0000-0000-0000-%012d", k) })
	}},
	// EC2 resource IDs: the prefix stays, the hex becomes a counter of
	// the same length, so columns keep their width.
	{regexp.MustCompile(`\b(i|vpc|subnet|sg|igw|rtb|eipalloc|eipassoc|lt|vpce|ami|eni|vol|acl|snap|r)-[0-9a-f]{8,17}\b`), func(n *normaliser, m string) string {
		prefix, hex, _ := strings.Cut(m, "-")
		return n.get(prefix, m, func(k int) string { return fmt.Sprintf("%s-%0*d", prefix, len(hex), k) })
	}},
	// A diagram's node names carry the resource ID with "_" for "-"
	// ("n_sn_subnet_57a612e9fd91b9e6a"): they get the same counter as the
	// ID itself, so the page does not depend on the emulator drawing the
	// same random IDs from run to run.
	{regexp.MustCompile(`\bn_((?:[a-z]+_)*?)(i|vpc|subnet|sg|igw|rtb|eipalloc|eipassoc|lt|vpce|ami|eni|vol|acl|snap|r)_([0-9a-f]{8,17})\b`), func(n *normaliser, m string) string {
		sub := diagramNode.FindStringSubmatch(m)
		kinds, prefix, hex := sub[1], sub[2], sub[3]
		id := n.get(prefix, prefix+"-"+hex, func(k int) string { return fmt.Sprintf("%s-%0*d", prefix, len(hex), k) })
		return "n_" + kinds + strings.ReplaceAll(id, "-", "_")
	}},
	// Route 53 hosted zone IDs.
	{regexp.MustCompile(`\b[A-Z0-9]{12,32}\b`), func(n *normaliser, m string) string {
		if !strings.ContainsAny(m, "0123456789") || !strings.ContainsAny(m, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") {
			return m
		}
		return n.get("zone", m, func(k int) string { return fmt.Sprintf("Z%0*d", len(m)-1, k) })
	}},
	// A load balancer's DNS name has a random number in it.
	{regexp.MustCompile(`\b([a-z0-9-]+)-\d+\.([a-z0-9-]+)\.elb\.amazonaws\.com\b`), func(n *normaliser, m string) string {
		i := strings.Index(m, ".")
		head := m[:i]
		name := head[:strings.LastIndex(head, "-")]
		return n.get("elb", m, func(k int) string { return fmt.Sprintf("%s-%010d%s", name, k, m[i:]) })
	}},
	// IPv4 addresses, but not CIDR blocks (10.40.0.0/16 is configuration).
	{regexp.MustCompile(`\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b(/\d+)?`), func(n *normaliser, m string) string {
		if strings.Contains(m, "/") {
			return m
		}
		if strings.HasPrefix(m, "10.") || strings.HasPrefix(m, "192.168.") {
			// Private: the subnet says which AZ, so it stays; the host
			// is numbered within its /24, from .4 as AWS does.
			net := m[:strings.LastIndex(m, ".")+1]
			return n.get("ip"+net, m, func(k int) string { return net + strconv.Itoa(k+3) })
		}
		// Public: the documentation range (RFC 5737).
		return n.get("ip", m, func(k int) string { return "203.0.113." + strconv.Itoa(k) })
	}},
}

// duration matches what Go's time.Duration prints: 898ms, 1.39s, 2m0.5s.
const duration = `(?:\d+h)?(?:\d+m)?\d+(?:\.\d+)?(?:ns|µs|us|ms|s|m|h)`

// diagramNode is the node-name rule's pattern, for its parts.
var diagramNode = regexp.MustCompile(`^n_((?:[a-z]+_)*?)(i|vpc|subnet|sg|igw|rtb|eipalloc|eipassoc|lt|vpce|ami|eni|vol|acl|snap|r)_([0-9a-f]{8,17})$`)

var progressLine = regexp.MustCompile(`^\s+` + duration + ` left:`)

func fixed(s string) func(*normaliser, string) string {
	return func(*normaliser, string) string { return s }
}

// get returns the placeholder of value in family, giving out the next one
// (numbered from 1) on its first appearance.
func (n *normaliser) get(family, value string, make func(k int) string) string {
	key := family + "\x00" + value
	if p, ok := n.seen[key]; ok {
		return p
	}
	n.counts[family]++
	p := make(n.counts[family])
	n.seen[key] = p
	return p
}

// line normalises one line of text.
func (n *normaliser) line(s string) string {
	for _, r := range rules {
		s = r.re.ReplaceAllStringFunc(s, func(m string) string { return r.placeholder(n, m) })
	}
	s = placeholderList.ReplaceAllStringFunc(s, sortList)
	return strings.TrimRight(s, " \t")
}

// placeholderList matches a list of public-address or instance
// placeholders ("203.0.113.4, 203.0.113.2"). wtt orders such lists by the
// real values, which are random, so the placeholders are put in order.
var placeholderList = regexp.MustCompile(`\b(?:203\.0\.113\.\d+(?:, ?203\.0\.113\.\d+)+|i-\d{17}(?:, ?i-\d{17})+)\b`)

func sortList(m string) string {
	sep := ","
	if strings.Contains(m, ", ") {
		sep = ", "
	}
	items := strings.Split(m, sep)
	num := func(s string) int {
		k, _ := strconv.Atoi(s[strings.LastIndexAny(s, ".-")+1:])
		return k
	}
	sort.SliceStable(items, func(a, b int) bool { return num(items[a]) < num(items[b]) })
	return strings.Join(items, sep)
}

// mask hides every changing value without giving out placeholders: two
// table rows that differ only in IDs and addresses mask the same.
func mask(s string) string {
	for _, r := range rules {
		s = r.re.ReplaceAllString(s, "#")
	}
	return s
}

// text normalises a command's output. Tables (an upper-case header, then
// rows, up to a blank line) are taken apart into cells first: their rows
// are put in an order that does not depend on IDs (the emulator lists
// instances by ID, which is random), and their columns are re-aligned to
// the placeholders' widths.
func (n *normaliser) text(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	var out []string
	for i := 0; i < len(lines); {
		if cols := headerColumns(lines[i]); cols != nil {
			j := i + 1
			for j < len(lines) && isRow(cols, lines[j]) {
				j++
			}
			out = append(out, n.table(cols, lines[i], lines[i+1:j])...)
			i = j
			continue
		}
		l := n.line(lines[i])
		i++
		if len(out) > 0 && l == out[len(out)-1] && progressLine.MatchString(lines[i-1]) {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

var headerCell = regexp.MustCompile(`[A-Z][A-Z0-9]*( [A-Z0-9]+)*`)

// headerColumns returns where each column of a table header starts, or nil
// when the line is not one: at least two upper-case cells, two or more
// spaces apart.
func headerColumns(line string) []int {
	if strings.TrimSpace(line) == "" || strings.ToUpper(line) != line || strings.HasPrefix(line, " ") {
		return nil
	}
	locs := headerCell.FindAllStringIndex(line, -1)
	if len(locs) < 2 {
		return nil
	}
	var starts []int
	end := 0
	for k, l := range locs {
		if k > 0 && l[0]-end < 2 {
			return nil
		}
		if strings.TrimSpace(line[end:l[0]]) != "" {
			return nil
		}
		starts = append(starts, utf8.RuneCountInString(line[:l[0]]))
		end = l[1]
	}
	if strings.TrimSpace(line[end:]) != "" {
		return nil
	}
	return starts
}

// isRow reports whether line continues a table with these column starts:
// not blank, not another header, and two spaces before every column it
// reaches (a line of prose under a table does not).
func isRow(starts []int, line string) bool {
	if strings.TrimSpace(line) == "" || headerColumns(line) != nil {
		return false
	}
	r := []rune(line)
	for _, s := range starts[1:] {
		if s >= len(r) {
			break
		}
		if s < 2 || r[s-1] != ' ' || r[s-2] != ' ' {
			return false
		}
	}
	return true
}

func (n *normaliser) table(starts []int, header string, rows []string) []string {
	split := func(line string) []string {
		r := []rune(line)
		cells := make([]string, len(starts))
		for k, s := range starts {
			e := len(r)
			if k+1 < len(starts) && starts[k+1] < e {
				e = starts[k+1]
			}
			if s < e {
				cells[k] = strings.TrimSpace(string(r[s:e]))
			}
		}
		return cells
	}
	body := make([][]string, len(rows))
	for k, r := range rows {
		body[k] = split(r)
	}
	sort.SliceStable(body, func(a, b int) bool {
		return mask(strings.Join(body[a], "\t")) < mask(strings.Join(body[b], "\t"))
	})
	all := append([][]string{split(header)}, body...)
	for _, row := range all {
		for k := range row {
			row[k] = n.line(row[k])
		}
	}
	// Rows alike but for their IDs (targets that are all healthy) were
	// numbered in the emulator's order; order them by their placeholders.
	sort.SliceStable(body, func(a, b int) bool {
		ma, mb := mask(strings.Join(body[a], "\t")), mask(strings.Join(body[b], "\t"))
		if ma != mb {
			return ma < mb
		}
		return strings.Join(body[a], "\t") < strings.Join(body[b], "\t")
	})
	all = append(all[:1], body...)
	widths := make([]int, len(starts))
	for _, row := range all {
		for k, c := range row {
			widths[k] = max(widths[k], utf8.RuneCountInString(c))
		}
	}
	out := make([]string, len(all))
	for i, row := range all {
		var b strings.Builder
		for k, c := range row {
			b.WriteString(c)
			if k+1 < len(row) {
				b.WriteString(strings.Repeat(" ", widths[k]-utf8.RuneCountInString(c)+3))
			}
		}
		out[i] = strings.TrimRight(b.String(), " ")
	}
	return out
}
