package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/rogpeppe/go-internal/testscript"
)

// Checks for `wtt review`, `what-if`, `diagram` and `cost`: what they print
// is held against AWS as the SDK reads it, never against wtt's own view.
func init() {
	checks["calls-save-set"] = saveCallSet
	checks["calls-same-set"] = sameCallSet
	checks["review-evidence"] = checkReviewEvidence
	checks["review-shape"] = checkReviewShape
	checks["whatif-from-aws"] = checkWhatIfFromAWS
	checks["set-health-check"] = setHealthCheck
	checks["bill-matches-status"] = checkBillMatchesStatus
	checks["diagram-has"] = checkDiagramHas
}

func readJSON(ts *testscript.TestScript, name string, v any) {
	b, err := os.ReadFile(ts.MkAbs(name))
	if err != nil {
		ts.Fatalf("%v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		ts.Fatalf("%s: %v", name, err)
	}
}

// aws calls-save-set NAME: remember which AWS actions the runs since the
// last calls-reset made, and how often each.
func saveCallSet(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	calls := readCalls(ts)
	slices.Sort(calls)
	return os.WriteFile(filepath.Join(ts.Getenv("WORK"), "callset-"+args[0]), []byte(strings.Join(calls, "\n")), 0o644)
}

// aws calls-same-set NAME: the runs since the last calls-reset made exactly
// the saved calls: the same discovery, nothing more.
func sameCallSet(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	b, err := os.ReadFile(filepath.Join(ts.Getenv("WORK"), "callset-"+args[0]))
	if err != nil {
		return err
	}
	calls := readCalls(ts)
	slices.Sort(calls)
	if got := strings.Join(calls, "\n"); got != string(b) {
		return fmt.Errorf("calls differ from %s:\n--- now (%d)\n%s\n--- saved\n%s", args[0], len(calls), got, b)
	}
	return nil
}

type reviewJSON struct {
	App     string `json:"app"`
	Stage   string `json:"stage"`
	Score   *int   `json:"score"`
	Pillars []struct {
		Name     string `json:"name"`
		Score    *int   `json:"score"`
		Findings []struct {
			ID         string   `json:"id"`
			Pillar     string   `json:"pillar"`
			Severity   string   `json:"severity"`
			Title      string   `json:"title"`
			Evidence   []string `json:"evidence"`
			Why        string   `json:"why"`
			Fix        string   `json:"fix"`
			References []string `json:"references"`
		} `json:"findings"`
	} `json:"pillars"`
}

// aws review-shape FILE: the review JSON has the contract's shape: the
// app's name, the five pillars in order, every finding complete.
func checkReviewShape(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	var r reviewJSON
	readJSON(ts, args[0], &r)
	if r.App != c.app || r.Stage == "" || r.Score == nil {
		return fmt.Errorf("app %q stage %q score %v", r.App, r.Stage, r.Score)
	}
	var names []string
	for _, p := range r.Pillars {
		names = append(names, p.Name)
		if p.Score == nil || *p.Score < 0 || *p.Score > 100 {
			return fmt.Errorf("pillar %s score %v", p.Name, p.Score)
		}
		for _, f := range p.Findings {
			if f.Pillar != p.Name || f.ID == "" || f.Title == "" || f.Why == "" || f.Fix == "" || len(f.Evidence) == 0 || f.References == nil ||
				!slices.Contains([]string{"high", "medium", "low"}, f.Severity) {
				return fmt.Errorf("incomplete finding %+v", f)
			}
		}
	}
	if want := "cost,performance,reliability,security,operational-excellence"; strings.Join(names, ",") != want {
		return fmt.Errorf("pillars %v, want %s", names, want)
	}
	return nil
}

// aws review-evidence FILE ID: finding ID is in the review, and its
// evidence names every running instance of the app as EC2 reports them.
func checkReviewEvidence(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	var r reviewJSON
	readJSON(ts, args[0], &r)
	is, err := c.instances(ctx, "running")
	if err != nil {
		return err
	}
	if len(is) == 0 {
		return fmt.Errorf("no running instance")
	}
	for _, p := range r.Pillars {
		for _, f := range p.Findings {
			if f.ID != args[1] {
				continue
			}
			ev := strings.Join(f.Evidence, " ")
			for _, i := range is {
				if !strings.Contains(ev, aws.ToString(i.InstanceId)) {
					return fmt.Errorf("%s evidence %q does not name %s", f.ID, ev, aws.ToString(i.InstanceId))
				}
			}
			return nil
		}
	}
	return fmt.Errorf("no finding %s", args[1])
}

func (c *checker) targetGroupHealth(ctx context.Context) (interval, unhealthy, healthy int64, err error) {
	out, err := c.elb.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{Names: []string{"wtt-" + c.app + "-tg"}})
	if err != nil {
		return 0, 0, 0, err
	}
	if len(out.TargetGroups) != 1 {
		return 0, 0, 0, fmt.Errorf("%d target groups", len(out.TargetGroups))
	}
	tg := out.TargetGroups[0]
	return int64(aws.ToInt32(tg.HealthCheckIntervalSeconds)), int64(aws.ToInt32(tg.UnhealthyThresholdCount)), int64(aws.ToInt32(tg.HealthyThresholdCount)), nil
}

// aws whatif-from-aws FILE ttl NAME | health | replace: the what-if's
// outageSeconds is the figure AWS holds: the record's TTL (Route 53), the
// health check's interval × unhealthy threshold (ELBv2), or that plus the
// stated boot time plus interval × healthy threshold (a group replacing its
// only instance).
func checkWhatIfFromAWS(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	var o struct {
		OutageSeconds int64    `json:"outageSeconds"`
		Assumptions   []string `json:"assumptions"`
	}
	readJSON(ts, args[0], &o)
	var want int64
	switch args[1] {
	case "ttl":
		zones, err := c.r53.ListHostedZonesByName(ctx, &route53.ListHostedZonesByNameInput{DNSName: aws.String(strings.SplitN(args[2], ".", 2)[1])})
		if err != nil || len(zones.HostedZones) == 0 {
			return fmt.Errorf("zone of %s: %v", args[2], err)
		}
		rr, err := c.r53.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{HostedZoneId: zones.HostedZones[0].Id, StartRecordName: aws.String(args[2] + ".")})
		if err != nil || len(rr.ResourceRecordSets) == 0 {
			return fmt.Errorf("record %s: %v", args[2], err)
		}
		want = aws.ToInt64(rr.ResourceRecordSets[0].TTL)
	case "health", "replace":
		interval, unhealthy, healthy, err := c.targetGroupHealth(ctx)
		if err != nil {
			return err
		}
		want = interval * unhealthy
		if args[1] == "replace" {
			boot := int64(-1)
			for _, a := range o.Assumptions {
				if _, rest, ok := strings.Cut(a, "in about "); ok {
					if n, err := strconv.ParseInt(strings.Fields(rest)[0], 10, 64); err == nil {
						boot = n
					}
				}
			}
			if boot < 0 {
				return fmt.Errorf("no boot time stated in the assumptions %v", o.Assumptions)
			}
			want += boot + interval*healthy
		}
	default:
		ts.Fatalf("usage: aws whatif-from-aws FILE ttl NAME|health|replace")
	}
	if o.OutageSeconds != want {
		return fmt.Errorf("outageSeconds %d, AWS says %d", o.OutageSeconds, want)
	}
	return nil
}

// aws set-health-check INTERVAL UNHEALTHY: change the target group's
// health check behind wtt's back, as another operator might.
func setHealthCheck(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	out, err := c.elb.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{Names: []string{"wtt-" + c.app + "-tg"}})
	if err != nil || len(out.TargetGroups) != 1 {
		return fmt.Errorf("target group: %v", err)
	}
	_, err = c.elb.ModifyTargetGroup(ctx, &elbv2.ModifyTargetGroupInput{TargetGroupArn: out.TargetGroups[0].TargetGroupArn,
		HealthCheckIntervalSeconds: aws.Int32(int32(atoi(ts, args[0]))), UnhealthyThresholdCount: aws.Int32(int32(atoi(ts, args[1])))})
	return err
}

// aws bill-matches-status COST STATUS [unused]: the itemised bill's lines
// add up to its total, and that total is the one `wtt status` showed —
// or, with "unused", more than it by the reserved hours nothing uses.
func checkBillMatchesStatus(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	var b struct {
		Monthly       float64 `json:"monthly"`
		StatusMonthly float64 `json:"statusMonthly"`
		Lines         []struct {
			Monthly float64 `json:"monthly"`
		} `json:"lines"`
	}
	var st struct {
		MonthlyCost struct {
			Monthly float64 `json:"monthly"`
		} `json:"monthlyCost"`
	}
	readJSON(ts, args[0], &b)
	readJSON(ts, args[1], &st)
	sum := 0.0
	for _, l := range b.Lines {
		sum += l.Monthly
	}
	if math.Abs(sum-b.Monthly) > 0.05 {
		return fmt.Errorf("lines sum to %.2f, total %.2f", sum, b.Monthly)
	}
	if b.StatusMonthly != st.MonthlyCost.Monthly || b.Monthly == 0 {
		return fmt.Errorf("bill says status is %.2f, status says %.2f", b.StatusMonthly, st.MonthlyCost.Monthly)
	}
	unused := len(args) > 2 && args[2] == "unused"
	if !unused && b.Monthly != b.StatusMonthly {
		return fmt.Errorf("bill %.2f, status %.2f", b.Monthly, b.StatusMonthly)
	}
	if unused && b.Monthly <= b.StatusMonthly {
		return fmt.Errorf("bill %.2f is not above status %.2f", b.Monthly, b.StatusMonthly)
	}
	return nil
}

// aws diagram-has FILE: the picture names every running instance, Elastic
// IP, load balancer and Auto Scaling group of the app, as AWS lists them.
func checkDiagramHas(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	b, err := os.ReadFile(ts.MkAbs(args[0]))
	if err != nil {
		return err
	}
	pic := string(b)
	var want []string
	is, err := c.instances(ctx, "running")
	if err != nil {
		return err
	}
	for _, i := range is {
		want = append(want, aws.ToString(i.InstanceId))
	}
	addrs, err := c.ec2.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{Filters: []ec2types.Filter{c.appFilter()}})
	if err != nil {
		return err
	}
	for _, a := range addrs.Addresses {
		want = append(want, aws.ToString(a.AllocationId))
	}
	if lbs, err := c.elb.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{Names: []string{"wtt-" + c.app}}); err == nil {
		for _, lb := range lbs.LoadBalancers {
			want = append(want, aws.ToString(lb.LoadBalancerName))
		}
	}
	groups, err := c.asg.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{"wtt-" + c.app + "-asg"}})
	if err != nil {
		return err
	}
	for _, g := range groups.AutoScalingGroups {
		want = append(want, aws.ToString(g.AutoScalingGroupName))
	}
	for _, w := range want {
		if !strings.Contains(pic, w) {
			return fmt.Errorf("%s does not show %s", args[0], w)
		}
	}
	return nil
}
