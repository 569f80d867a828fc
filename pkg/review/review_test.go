package review

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/whatsthetime/wtt/pkg/observe"
	fx "github.com/whatsthetime/wtt/pkg/statefixtures"
)

func find(s *observe.State, id string) *Finding {
	for _, f := range Findings(s) {
		if f.ID == id {
			return &f
		}
	}
	return nil
}

func with(s *observe.State, edit func(*observe.State)) func() *observe.State {
	return func() *observe.State { edit(s); return s }
}

func dns3h() *observe.State   { return fx.DNS(3, 3600) }
func dns3m() *observe.State   { return fx.DNS(3, 60) }
func dns1() *observe.State    { return fx.DNS(1, 60) }
func nothing() *observe.State { return &observe.State{App: "app"} }

// Each finding is raised at the stage (or state) that triggers it, with
// the severity the story gives it, and gone at the stage that clears it.
func TestEachFindingTriggersAndClears(t *testing.T) {
	cases := []struct {
		id       string
		triggers func() *observe.State
		severity Severity
		clears   func() *observe.State
	}{
		{"rel-no-self-healing", fx.Single, High, fx.ASG},
		{"rel-no-self-healing", dns3m, Medium, fx.ASG},
		{"rel-single-az", fx.Single, High, fx.MultiAZ},
		{"rel-single-az", fx.ALB, High, fx.MultiAZ},
		{"rel-single-az", fx.ASG, High, fx.MultiAZ},
		{"rel-load-balancer-single-az", with(fx.ALB(), func(s *observe.State) { s.LoadBalancer.AZs = s.LoadBalancer.AZs[:1] }), High, fx.ALB},
		{"rel-group-of-one", fx.ASG, Medium, fx.MultiAZ},
		{"rel-dns-stale-addresses", dns3h, High, fx.ALB},
		{"rel-dns-stale-addresses", dns3m, Medium, fx.ALB},
		{"rel-address-changes", fx.Single, Medium, fx.EIP},
		{"rel-group-ec2-health-check", with(fx.ASG(), func(s *observe.State) { s.Group.HealthCheckType = "EC2" }), Medium, fx.ASG},
		{"rel-unhealthy-targets", with(fx.ALB(), func(s *observe.State) { s.TargetGroup.Targets[0].Health = "unhealthy" }), Medium, fx.ALB},
		{"perf-capacity-needs-downtime", fx.Single, Medium, fx.ALB},
		{"perf-eip-quota", fx.EIP, Medium, dns1},
		{"perf-no-autoscaling", fx.ALB, Medium, fx.ASG},
		{"perf-no-autoscaling", with(fx.ASG(), func(s *observe.State) { s.Group.TargetTracking = nil }), Medium, fx.ASG},
		{"perf-group-at-max", with(fx.ASG(), func(s *observe.State) { s.Group.Max = 1 }), Medium, fx.ASG},
		{"perf-burstable", fx.Reserved, Low, with(fx.Reserved(), func(s *observe.State) {
			s.Group.InstanceType = "m5.large"
			for k := range s.Instances {
				s.Instances[k].Type = "m5.large"
			}
		})},
		{"sec-public-instances", fx.Single, Medium, fx.ALB},
		{"sec-ssh-open", with(fx.Single(), func(s *observe.State) {
			s.Network.WebSG.Ingress = append(s.Network.WebSG.Ingress, observe.Rule{Protocol: "tcp", FromPort: 22, ToPort: 22, CIDRs: []string{"0.0.0.0/0"}})
		}), High, fx.Single},
		{"sec-imdsv1", with(fx.Single(), func(s *observe.State) { s.Instances[0].IMDSv2Required = false }), High, fx.Single},
		{"sec-imdsv1", with(fx.ASG(), func(s *observe.State) { s.LaunchTemplate.IMDSv2Required = false }), High, fx.ASG},
		{"sec-private-sg-open", with(fx.ALB(), func(s *observe.State) {
			s.Network.PrivateSG.Ingress = append(s.Network.PrivateSG.Ingress, observe.Rule{Protocol: "tcp", FromPort: 80, ToPort: 80, CIDRs: []string{"0.0.0.0/0"}})
		}), Medium, fx.ALB},
		{"sec-template-public-ip", with(fx.ASG(), func(s *observe.State) { s.LaunchTemplate.PublicIP = true }), Medium, fx.ASG},
		{"sec-plain-http", fx.Reserved, Low, nothing}, // wtt has no HTTPS rung: only an app that serves nothing clears it
		{"cost-baseline-not-reserved", fx.MultiAZ, Medium, fx.Reserved},
		{"cost-baseline-not-reserved", fx.ASG, Low, fx.Reserved}, // one t2.micro saves under $100 a year
		{"cost-unused-reservation", with(fx.Reserved(), func(s *observe.State) {
			s.Instances = s.Instances[:2]
			s.Group.Min, s.Group.Desired = 2, 2
		}), Medium, fx.Reserved},
		{"cost-idle-eip", with(fx.EIP(), func(s *observe.State) { s.Instances[0].State = "terminated" }), Medium, fx.EIP},
		{"cost-stopped-instance", with(fx.Single(), func(s *observe.State) { s.Instances[0].State = "stopped" }), Low, fx.Single},
		{"cost-idle-load-balancer", with(fx.ALB(), func(s *observe.State) { s.TargetGroup.Targets = nil }), Medium, fx.ALB},
		{"ops-changes-need-downtime", fx.Single, Medium, fx.ALB},
		{"ops-half-built", with(fx.ALB(), func(s *observe.State) { s.Instances[0].PublicIP = "54.0.0.9" }), Medium, fx.ALB},
		{"ops-stray-vpc", with(fx.Single(), func(s *observe.State) { s.StrayNetworks = []observe.Network{{VPCID: "vpc-2"}} }), Low, fx.Single},
	}
	tested := map[string]bool{}
	for _, tc := range cases {
		tested[tc.id] = true
		t.Run(tc.id, func(t *testing.T) {
			f := find(tc.triggers(), tc.id)
			if f == nil {
				t.Fatalf("%s not raised; findings: %v", tc.id, ids2(Findings(tc.triggers())))
			}
			if f.Severity != tc.severity {
				t.Errorf("%s severity %s, want %s", tc.id, f.Severity, tc.severity)
			}
			if len(f.Evidence) == 0 || f.Why == "" || f.Fix == "" || f.Title == "" {
				t.Errorf("%s incomplete: %+v", tc.id, f)
			}
			if f := find(tc.clears(), tc.id); f != nil {
				t.Errorf("%s still raised where it should clear: %+v", tc.id, f)
			}
		})
	}
	for _, r := range Rules {
		if !tested[r.ID] {
			t.Errorf("rule %s has no trigger/clear test", r.ID)
		}
	}
}

func ids2(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.ID+"("+string(f.Severity)+")")
	}
	return out
}

// The story's lessons, stage by stage: what each rung leaves to fix.
func TestEachStageYieldsItsStory(t *testing.T) {
	for _, tc := range []struct {
		name  string
		state *observe.State
		want  []string
	}{
		{"single", fx.Single(), []string{"rel-no-self-healing", "rel-single-az", "rel-address-changes", "sec-public-instances", "perf-capacity-needs-downtime", "ops-changes-need-downtime"}},
		{"eip", fx.EIP(), []string{"rel-no-self-healing", "rel-single-az", "perf-eip-quota", "sec-public-instances"}},
		{"dns", fx.DNS(3, 3600), []string{"rel-dns-stale-addresses", "rel-no-self-healing", "sec-public-instances"}},
		{"alb", fx.ALB(), []string{"rel-single-az", "rel-no-self-healing", "perf-no-autoscaling"}},
		{"asg", fx.ASG(), []string{"rel-single-az", "rel-group-of-one", "cost-baseline-not-reserved"}},
		{"multi-az", fx.MultiAZ(), []string{"cost-baseline-not-reserved"}},
	} {
		var have []string
		for _, f := range Findings(tc.state) {
			have = append(have, f.ID)
		}
		for _, w := range tc.want {
			if !slices.Contains(have, w) {
				t.Errorf("%s: %s missing; have %v", tc.name, w, have)
			}
		}
	}
}

func TestReservedWithDefaultsHasNothingAboveLow(t *testing.T) {
	r := Review(fx.Reserved())
	if r.Stage != "reserved" {
		t.Fatalf("fixture is at %s", r.Stage)
	}
	if w := r.Worst(); w.Rank() > Low.Rank() {
		t.Errorf("worst finding at reserved is %s: %v", w, ids2(Findings(fx.Reserved())))
	}
	if r.AtOrAbove(Medium) != 0 || r.AtOrAbove(Low) == 0 {
		t.Errorf("AtOrAbove: medium %d, low %d", r.AtOrAbove(Medium), r.AtOrAbove(Low))
	}
}

func TestScores(t *testing.T) {
	r := Review(fx.Reserved())
	scores := map[Pillar]int{}
	for _, p := range r.Pillars {
		scores[p.Name] = p.Score
	}
	// perf-burstable and sec-plain-http, 5 points each.
	want := map[Pillar]int{Cost: 100, Performance: 95, Reliability: 100, Security: 95, OperationalEx: 100}
	for p, w := range want {
		if scores[p] != w {
			t.Errorf("%s score %d, want %d", p, scores[p], w)
		}
	}
	if r.Score != 98 {
		t.Errorf("overall %d, want 98 (mean of %v)", r.Score, scores)
	}
	single := Review(fx.Single())
	if single.Score >= r.Score {
		t.Errorf("single scores %d, not below reserved's %d", single.Score, r.Score)
	}
	for _, p := range single.Pillars {
		if p.Score < 0 || p.Score > 100 {
			t.Errorf("%s score %d out of range", p.Name, p.Score)
		}
		for k := 1; k < len(p.Findings); k++ {
			if p.Findings[k].Severity.Rank() > p.Findings[k-1].Severity.Rank() {
				t.Errorf("%s findings not worst first", p.Name)
			}
		}
	}
}

// The JSON shape is the one scripts and CI rely on.
func TestJSONShape(t *testing.T) {
	b, err := json.Marshal(Review(fx.Single()).Only(Reliability))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		App     string `json:"app"`
		Stage   string `json:"stage"`
		Score   *int   `json:"score"`
		Pillars []struct {
			Name     string           `json:"name"`
			Score    *int             `json:"score"`
			Findings []map[string]any `json:"findings"`
		} `json:"pillars"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if v.App != "app" || v.Stage != "single" || v.Score == nil || len(v.Pillars) != 1 || v.Pillars[0].Name != "reliability" {
		t.Fatalf("shape: %s", b)
	}
	for _, f := range v.Pillars[0].Findings {
		for _, k := range []string{"id", "pillar", "severity", "title", "evidence", "why", "fix", "references"} {
			if _, ok := f[k]; !ok {
				t.Errorf("finding lacks %q: %v", k, f)
			}
		}
		if len(f) != 8 {
			t.Errorf("finding has %d keys, want 8: %v", len(f), f)
		}
	}
}

func TestParse(t *testing.T) {
	if _, err := ParseSeverity("critical"); err == nil || !strings.Contains(err.Error(), "low, medium, high") {
		t.Errorf("ParseSeverity(critical) = %v", err)
	}
	if s, _ := ParseSeverity("HIGH"); s != High {
		t.Errorf("ParseSeverity(HIGH) = %s", s)
	}
	if _, err := ParsePillar("sustainability"); err == nil {
		t.Error("sustainability accepted")
	}
	if p, _ := ParsePillar("operational-excellence"); p != OperationalEx {
		t.Errorf("ParsePillar = %s", p)
	}
}

// A finding's evidence stays short for a large fleet.
func TestEvidenceIsBounded(t *testing.T) {
	s := fx.DNS(1, 60)
	for k := range 40 {
		i := s.Instances[0]
		i.ID = "i-x" + string(rune('a'+k%26)) + string(rune('a'+k/26))
		s.Instances = append(s.Instances, i)
	}
	for _, f := range Findings(s) {
		if len(f.Evidence) > maxEvidence+1 || len(strings.Join(f.Evidence, " ")) > 1200 {
			t.Errorf("%s evidence too long: %d items", f.ID, len(f.Evidence))
		}
	}
}

// docs/review.md lists every finding; a new row without its line fails here.
func TestDocsListEveryFinding(t *testing.T) {
	b, err := os.ReadFile("../../docs/review.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range Rules {
		if !strings.Contains(string(b), "`"+r.ID+"`") {
			t.Errorf("docs/review.md does not list %s", r.ID)
		}
	}
}
