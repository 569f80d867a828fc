package tutorial

import (
	"strings"
	"testing"
)

// Two runs of the same story differ only in what the emulator made up; the
// normalised text must not.
func TestNormaliseTwoRunsAlike(t *testing.T) {
	const run1 = `Next:    eip needs: instance i-2a0d91081977065fe has no Elastic IP
[1/1] + 1 Elastic IP(s), one for each of i-2a0d91081977065fe
    127.64.130.92 -> i-2a0d91081977065fe
      done (898ms)
Done: 1 step(s) in 5.653s.

INSTANCE              TYPE       STATE     AZ           PUBLIC IP        PRIVATE IP   EIP
i-91cc8c6d12233d4f2   m5.large   running   us-east-1c   127.12.136.162   10.40.2.4    -
i-2a0d91081977065fe   m5.large   running   us-east-1a   127.64.130.92    10.40.0.4    127.64.130.92

TARGET                HEALTH
i-91cc8c6d12233d4f2   healthy
i-2a0d91081977065fe   healthy

RESERVATION                            TYPE       COUNT   STATE    SCOPE    ENDS
6cbf1171-313c-476c-8cb1-d4493ee5d53a   m5.large   3       active   Region   2027-11-29
created hosted zone whatisthetime.com (J483KOQCLFRQSQO5Z594ND)
Load balancer: wtt-whatsthetime-1.us-east-1.elb.amazonaws.com
network 10.40.0.0/16, downtime: about 2m0s
api.whatisthetime.com -> 127.64.130.92, 127.12.136.162`
	const run2 = `Next:    eip needs: instance i-77aa000000000000b has no Elastic IP
[1/1] + 1 Elastic IP(s), one for each of i-77aa000000000000b
    54.1.2.3 -> i-77aa000000000000b
      done (1.2s)
Done: 1 step(s) in 12.001s.

INSTANCE              TYPE       STATE     AZ           PUBLIC IP   PRIVATE IP   EIP
i-77aa000000000000b   m5.large   running   us-east-1a   54.1.2.3    10.40.0.9    54.1.2.3
i-ffff0000000000001   m5.large   running   us-east-1c   54.9.9.9    10.40.2.7    -

TARGET                HEALTH
i-77aa000000000000b   healthy
i-ffff0000000000001   healthy

RESERVATION                            TYPE       COUNT   STATE    SCOPE    ENDS
0a0a0a0a-313c-476c-8cb1-d4493ee5d53a   m5.large   3       active   Region   2028-01-02
created hosted zone whatisthetime.com (Z0ABCDEFGH1234567890KL)
Load balancer: wtt-whatsthetime-734293.us-east-1.elb.amazonaws.com
network 10.40.0.0/16, downtime: about 2m0s
api.whatisthetime.com -> 54.9.9.9, 54.1.2.3`
	a, b := newNormaliser().text(run1), newNormaliser().text(run2)
	if a != b {
		t.Fatalf("normalised runs differ:\n%s\n\n%s\n\ndiff:\n%s", a, b, lineDiff(a, b))
	}
	for _, want := range []string{
		"instance i-00000000000000001 has no Elastic IP",
		"203.0.113.1 -> i-00000000000000001",
		"done (<t>)", "in <t>.",
		"i-00000000000000001   m5.large   running   us-east-1a   203.0.113.1   10.40.0.4    203.0.113.1",
		"00000000-0000-0000-0000-000000000001   m5.large   3       active   Region   YYYY-MM-DD",
		"(Z000000000000000000001)",
		"wtt-whatsthetime-0000000001.us-east-1.elb.amazonaws.com",
		"10.40.0.0/16", "about 2m0s",
		"api.whatisthetime.com -> 203.0.113.1, 203.0.113.2",
	} {
		if !strings.Contains(a, want) {
			t.Errorf("normalised text lacks %q:\n%s", want, a)
		}
	}
}

func TestSplitPlanDropsCalls(t *testing.T) {
	plan, rest := splitPlan("Plan: x\n   1. + thing\n        calls: ec2:A, ec2:B\nMonthly cost: $1\n\nApp a is at stage b.\n")
	if strings.Contains(plan, "calls:") || !strings.HasSuffix(plan, "Monthly cost: $1") {
		t.Errorf("plan %q", plan)
	}
	if strings.TrimSpace(rest) != "App a is at stage b." {
		t.Errorf("rest %q", rest)
	}
}

// A long wait prints a line every 10 s: how many, and the seconds in each,
// depend on the clock. Two runs of the same wait read alike.
func TestNormaliseCollapsesWaitProgress(t *testing.T) {
	const run1 = `[6/7] … wait 30s (the TTL of api.example.com)
    31s left: public instances i-2a0d91081977065fe keep serving until 2026-11-30T01:02:03Z
    21s left: public instances i-2a0d91081977065fe keep serving until 2026-11-30T01:02:03Z
    11s left: public instances i-2a0d91081977065fe keep serving until 2026-11-30T01:02:03Z
    1s left: public instances i-2a0d91081977065fe keep serving until 2026-11-30T01:02:03Z
      done (30.9s)`
	const run2 = `[6/7] … wait 30s (the TTL of api.example.com)
    30s left: public instances i-77aa000000000000b keep serving until 2026-11-30T02:00:00Z
    20s left: public instances i-77aa000000000000b keep serving until 2026-11-30T02:00:00Z
    10s left: public instances i-77aa000000000000b keep serving until 2026-11-30T02:00:00Z
      done (30.1s)`
	a, b := newNormaliser().text(run1), newNormaliser().text(run2)
	if a != b {
		t.Fatalf("normalised waits differ:\n%s\n\ndiff:\n%s", a, lineDiff(a, b))
	}
	if want := "    <t> left: public instances i-00000000000000001 keep serving until YYYY-MM-DDThh:mm:ssZ\n      done (<t>)"; !strings.Contains(a, want) {
		t.Errorf("normalised wait lacks %q:\n%s", want, a)
	}
	if strings.Contains(a, "30s left") {
		t.Errorf("a progress figure survived:\n%s", a)
	}
}

// A diagram names its nodes after the resources' IDs: two runs that drew
// different IDs print the same page, and a node's name keeps the number
// its ID has in the labels.
func TestNormaliseDiagramNodeNames(t *testing.T) {
	const run1 = `    subgraph n_sn_subnet_57a612e9fd91b9e6a["subnet-57a612e9fd91b9e6a (public)"]
      n_i_949d9ebdf87812b56["i-949d9ebdf87812b56<br/>t2.micro running"]
  n_internet --> n_i_949d9ebdf87812b56`
	const run2 = `    subgraph n_sn_subnet_d91b9e6aef69df57c["subnet-d91b9e6aef69df57c (public)"]
      n_i_00f3044c460865276["i-00f3044c460865276<br/>t2.micro running"]
  n_internet --> n_i_00f3044c460865276`
	a, b := newNormaliser().text(run1), newNormaliser().text(run2)
	if a != b {
		t.Fatalf("normalised diagrams differ:\n%s\n\ndiff:\n%s", a, lineDiff(a, b))
	}
	for _, want := range []string{
		`subgraph n_sn_subnet_00000000000000001["subnet-00000000000000001 (public)"]`,
		`n_i_00000000000000001["i-00000000000000001<br/>t2.micro running"]`,
		`n_internet --> n_i_00000000000000001`,
	} {
		if !strings.Contains(a, want) {
			t.Errorf("normalised diagram lacks %q:\n%s", want, a)
		}
	}
}
