package printers

import (
	"fmt"
	"io"
	"strings"

	"github.com/whatsthetime/wtt/pkg/review"
)

// PrintReview renders a review: the score per pillar, then each pillar's
// findings worst first, with evidence, why, fix and references.
func PrintReview(w io.Writer, format string, r review.Report) error {
	if ok, err := Structured(w, format, r); ok {
		return err
	}
	fmt.Fprintf(w, "App:     %s (stage %s)\n", r.App, r.Stage)
	fmt.Fprintf(w, "Score:   %d/100\n", r.Score)
	fmt.Fprintf(w, "         (%s)\n\n", review.ScoringRule)
	var rows [][]string
	for _, p := range r.Pillars {
		n := map[review.Severity]int{}
		for _, f := range p.Findings {
			n[f.Severity]++
		}
		rows = append(rows, []string{string(p.Name), fmt.Sprint(p.Score), fmt.Sprint(n[review.High]), fmt.Sprint(n[review.Medium]), fmt.Sprint(n[review.Low])})
	}
	if err := table(w, []string{"PILLAR", "SCORE", "HIGH", "MEDIUM", "LOW"}, rows); err != nil {
		return err
	}
	for _, p := range r.Pillars {
		if len(p.Findings) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s (%d/100)\n", p.Name, p.Score)
		for _, f := range p.Findings {
			fmt.Fprintf(w, "  %-6s  %s  %s\n", strings.ToUpper(string(f.Severity)), f.ID, f.Title)
			for k, e := range f.Evidence {
				label := "seen:"
				if k > 0 {
					label = ""
				}
				fmt.Fprintf(w, "          %-6s %s\n", label, e)
			}
			fmt.Fprintf(w, "          %-6s %s\n", "why:", f.Why)
			fmt.Fprintf(w, "          %-6s %s\n", "fix:", f.Fix)
			if len(f.References) > 0 {
				fmt.Fprintf(w, "          %-6s %s\n", "refs:", strings.Join(f.References, ", "))
			}
		}
	}
	if r.Worst() == "" {
		fmt.Fprintln(w, "\nNo findings.")
	}
	return nil
}
