package probe

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// WriteText prints the report for people: one summary line, the failures by
// kind, the longest outage and its step, each step, who answered, and
// whether the plan's claim held.
func (r *Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "\nProbe: %d request(s) in %.1fs to %s (%s", r.Requests, r.Seconds, r.URL, r.Target)
	if r.Resolver != "" {
		fmt.Fprintf(w, ", resolver %s", r.Resolver)
	}
	fmt.Fprintf(w, "), %d failed.\n", r.Failed)
	if r.Failed > 0 {
		fmt.Fprintf(w, "  failures: %s", r.kinds())
		if r.StaleAddress > 0 {
			fmt.Fprintf(w, "; %d at an address the app no longer publishes", r.StaleAddress)
		}
		if r.NewAddress > 0 {
			fmt.Fprintf(w, "; %d at a newly published address before its instance answered", r.NewAddress)
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "  longest outage: %.1fs, began %s\n", r.LongestOutageSeconds, began(r.LongestOutageStep))
	}
	if len(r.ByStep) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  STEP\tREQUESTS\tFAILED\tLONGEST OUTAGE\tALLOWED\tHELD")
		for _, s := range r.ByStep {
			held := "yes"
			if !s.Held {
				held = "NO"
			}
			fmt.Fprintf(tw, "  %d\t%d\t%d\t%.1fs\t%s\t%s\n", s.Step, s.Requests, s.Failed, s.LongestOutageSeconds, s.Allowed, held)
		}
		tw.Flush()
	}
	if served := r.served(); served != "" {
		fmt.Fprintf(w, "  served by: %s\n", served)
	}
	verdict := "held"
	if !r.ClaimHeld {
		verdict = "NOT held"
	}
	fmt.Fprintf(w, "  the plan said: %s — %s (%s)\n", r.Claim, verdict, r.Verdict)
}

func (r *Report) kinds() string {
	var parts []string
	for _, k := range failureKinds {
		if n := r.Failures[string(k)]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, n))
		}
	}
	return strings.Join(parts, ", ")
}

func (r *Report) served() string {
	var parts []string
	for _, id := range sortedKeys(r.ServedBy.Instances) {
		parts = append(parts, fmt.Sprintf("%s %d", id, r.ServedBy.Instances[id]))
	}
	s := strings.Join(parts, ", ")
	if len(r.ServedBy.AZs) > 0 {
		var azs []string
		for _, az := range sortedKeys(r.ServedBy.AZs) {
			azs = append(azs, fmt.Sprintf("%s %d", az, r.ServedBy.AZs[az]))
		}
		s += "; AZs: " + strings.Join(azs, ", ")
	}
	return s
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// began puts "in" before a step's name: "began in step 2 (...)", "began
// while probing".
func began(where string) string {
	if strings.HasPrefix(where, "step ") {
		return "in " + where
	}
	return where
}
