// Package review judges an observed app on the five pillars of the AWS
// Well-Architected Framework. Findings live in one table (rules.go), each a
// pure function of observe.State with its metadata: id, pillar, severity,
// the evidence that proves it, why it matters to the app's users or bill,
// the command that fixes it, and the AWS Config rule or Well-Architected
// best practice it matches. Unlike per-resource checkers, rules may look at
// the whole app: its stage, its fleet across AZs, its DNS and its bill.
package review

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/stage"
)

// Severity ranks a finding by what it costs users or the bill.
type Severity string

const (
	Low    Severity = "low"
	Medium Severity = "medium"
	High   Severity = "high"
)

// Severities lists them lowest first, for flags and help.
var Severities = []Severity{Low, Medium, High}

// Rank orders severities: low 1, medium 2, high 3 (0 for unknown).
func (s Severity) Rank() int { return slices.Index(Severities, s) + 1 }

// ParseSeverity reads a --fail-on value.
func ParseSeverity(v string) (Severity, error) {
	s := Severity(strings.ToLower(strings.TrimSpace(v)))
	if s.Rank() == 0 {
		return "", fmt.Errorf("unknown severity %q (one of: low, medium, high)", v)
	}
	return s, nil
}

// Pillar is one of the Well-Architected pillars wtt judges (sustainability,
// the sixth, has nothing wtt could observe or change).
type Pillar string

const (
	Cost          Pillar = "cost"
	Performance   Pillar = "performance"
	Reliability   Pillar = "reliability"
	Security      Pillar = "security"
	OperationalEx Pillar = "operational-excellence"
)

// Pillars in the order reports show them.
var Pillars = []Pillar{Cost, Performance, Reliability, Security, OperationalEx}

// ParsePillar reads a --pillar value.
func ParsePillar(v string) (Pillar, error) {
	p := Pillar(strings.ToLower(strings.TrimSpace(v)))
	if !slices.Contains(Pillars, p) {
		var names []string
		for _, q := range Pillars {
			names = append(names, string(q))
		}
		return "", fmt.Errorf("unknown pillar %q (one of: %s)", v, strings.Join(names, ", "))
	}
	return p, nil
}

// Finding is one thing the review found, with what proves it and the fix.
// Its JSON names are the contract scripts and CI rely on.
type Finding struct {
	ID         string   `json:"id"`
	Pillar     Pillar   `json:"pillar"`
	Severity   Severity `json:"severity"`
	Title      string   `json:"title"`
	Evidence   []string `json:"evidence"`
	Why        string   `json:"why"`
	Fix        string   `json:"fix"`
	References []string `json:"references"`
}

// PillarReport is one pillar's score and findings, worst first.
type PillarReport struct {
	Name     Pillar    `json:"name"`
	Score    int       `json:"score"`
	Findings []Finding `json:"findings"`
}

// Report is the whole review.
type Report struct {
	App     string         `json:"app"`
	Stage   stage.Stage    `json:"stage"`
	Score   int            `json:"score"`
	Pillars []PillarReport `json:"pillars"`
}

// Points a finding takes off its pillar's score of 100.
var penalty = map[Severity]int{High: 40, Medium: 15, Low: 5}

// ScoringRule explains the score in one sentence, for people.
const ScoringRule = "each pillar starts at 100 and loses 40 per high, 15 per medium and 5 per low finding (never below 0); the overall score is the mean of the five pillars"

// Review runs every rule of the table against the observed state.
func Review(s *observe.State) Report {
	r := Report{App: s.App, Stage: stage.Detect(s).Stage}
	byPillar := map[Pillar][]Finding{}
	for _, f := range Findings(s) {
		byPillar[f.Pillar] = append(byPillar[f.Pillar], f)
	}
	total := 0
	for _, p := range Pillars {
		fs := byPillar[p]
		if fs == nil {
			fs = []Finding{}
		}
		slices.SortStableFunc(fs, func(a, b Finding) int { return b.Severity.Rank() - a.Severity.Rank() })
		score := 100
		for _, f := range fs {
			score -= penalty[f.Severity]
		}
		score = max(score, 0)
		total += score
		r.Pillars = append(r.Pillars, PillarReport{Name: p, Score: score, Findings: fs})
	}
	r.Score = int(math.Round(float64(total) / float64(len(Pillars))))
	return r
}

// Findings evaluates the table in order.
func Findings(s *observe.State) []Finding {
	f := factsOf(s)
	var out []Finding
	for _, rule := range Rules {
		h := rule.Check(f)
		if h == nil {
			continue
		}
		out = append(out, rule.finding(h))
	}
	return out
}

// Only keeps one pillar of a report (the overall score stays the app's).
func (r Report) Only(p Pillar) Report {
	out := r
	out.Pillars = nil
	for _, pr := range r.Pillars {
		if pr.Name == p {
			out.Pillars = append(out.Pillars, pr)
		}
	}
	return out
}

// Worst is the highest severity among the report's findings ("" if none).
func (r Report) Worst() Severity {
	var w Severity
	for _, p := range r.Pillars {
		for _, f := range p.Findings {
			if f.Severity.Rank() > w.Rank() {
				w = f.Severity
			}
		}
	}
	return w
}

// AtOrAbove counts the findings at or above a severity (for --fail-on).
func (r Report) AtOrAbove(s Severity) int {
	n := 0
	for _, p := range r.Pillars {
		for _, f := range p.Findings {
			if f.Severity.Rank() >= s.Rank() {
				n++
			}
		}
	}
	return n
}
