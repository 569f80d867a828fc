package ladder

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/plan"
	"github.com/whatsthetime/wtt/pkg/stage"
)

// DefaultInstanceType is where the story starts: one small instance.
const DefaultInstanceType = "t2.micro"

func (o Options) instanceType() string {
	if o.InstanceType != "" {
		return o.InstanceType
	}
	return DefaultInstanceType
}

// Up plans `wtt up`: create the app at stage single, or nothing when it
// already stands on single or any rung above it.
func Up(s *observe.State, o Options) (*plan.Plan, error) {
	cur := stage.Detect(s).Stage
	if cur.Index() <= stage.Single.Index() {
		return Migrate(s, stage.Single, o)
	}
	p := Already(s, "up", cur)
	if repair, why := networkRepair(s, cur); repair != nil {
		// Past single, up still owns the network every rung stands on.
		p.Steps, p.Warnings = []*plan.Step{repair}, []string{why}
	}
	return p, nil
}

// Already is the empty plan of an operation the app is past.
func Already(s *observe.State, operation string, cur stage.Stage) *plan.Plan {
	c := Cost(s)
	return &plan.Plan{App: s.App, Region: s.Region, Operation: operation, From: string(cur), To: string(cur),
		Steps: []*plan.Step{}, CostBefore: c, CostAfter: c, Projected: s,
		Warnings: []string{fmt.Sprintf("the app is already at stage %s, past this operation", cur)}}
}

// planUp creates the app at stage single: the network, the delivery bucket
// and role, the web security group and one instance.
func planUp(s *observe.State, o Options) ([]*plan.Step, []string, error) {
	var steps []*plan.Step
	rung := string(stage.Single)
	if !networkComplete(s) {
		steps = append(steps, networkStep(rung))
	}
	if s.Network.WebSG == nil || !webSGOpen(s.Network.WebSG) {
		steps = append(steps, &plan.Step{
			Rung: rung, Action: plan.Create, Resource: "security group " + "wtt-" + s.App + "-web",
			Detail: "tcp/80 from anywhere; no SSH (use SSM Session Manager)",
			Calls:  []string{"ec2:CreateSecurityGroup", "ec2:AuthorizeSecurityGroupIngress"},
			Do: func(ctx context.Context, x *plan.Exec) error {
				e := env(x)
				_, made, err := e.ensureSecurityGroup(ctx, e.State.Network.WebSG, e.N.WebSG(), "web",
					"WhatsTheTime.com instances answering on a public address", httpFromAnywhere())
				if made != nil {
					e.took(observe.KindSecurityGroups, func(s *observe.State) { s.Network.WebSG = made })
				}
				return err
			},
		})
	}
	if len(s.LiveInstances()) == 0 {
		typ := o.instanceType()
		steps = append(steps, &plan.Step{
			Rung: rung, Action: plan.Create, Resource: fmt.Sprintf("instance %s (public, IMDSv2 required, encrypted root volume)", typ),
			Detail: "uploads the time server to the app's S3 bucket, creates the instance role, launches Amazon Linux 2023 with the boot script",
			Calls:  append(append([]string{}, deliveryCalls...), launchCalls...),
			Check:  func(ctx context.Context, x *plan.Exec) error { return env(x).checkLaunch(ctx, typ) },
			Do: func(ctx context.Context, x *plan.Exec) error {
				e := env(x)
				if e.State.Network.WebSG == nil {
					return fmt.Errorf("security group %s is missing; run `wtt up` again", e.N.WebSG())
				}
				pub := e.State.Network.SubnetsWhere(true)
				if len(pub) == 0 {
					return errNoSubnets
				}
				_, err := e.ensureInstances(ctx, launchSpec{Role: "web", Type: typ, Subnets: pub[:1], SG: e.State.Network.WebSG.ID, Public: true}, 1)
				return err
			},
		})
	}
	return steps, nil, nil
}

func webSGOpen(g *observe.SecurityGroup) bool {
	for _, r := range g.Ingress {
		if r.Covers(80) {
			for _, c := range r.CIDRs {
				if c == "0.0.0.0/0" {
					return true
				}
			}
		}
	}
	return false
}

// projectUp is the state planning assumes after `up`.
func projectUp(s *observe.State, o Options) *observe.State {
	p := clone(s)
	if p.Network.VPCID == "" {
		p.Network.VPCID = unknown
	}
	if len(p.Network.Subnets) == 0 {
		for i, az := range []string{"a", "b", "c"} {
			p.Network.Subnets = append(p.Network.Subnets,
				observe.Subnet{ID: unknown + "-pub-" + az, AZ: p.Region + az, CIDR: publicCIDR(i), Public: true},
				observe.Subnet{ID: unknown + "-priv-" + az, AZ: p.Region + az, CIDR: privateCIDR(i)})
		}
	}
	if p.Network.WebSG == nil {
		p.Network.WebSG = &observe.SecurityGroup{ID: unknown + "-web", Name: "wtt-" + s.App + "-web",
			Ingress: []observe.Rule{{Protocol: "tcp", FromPort: 80, ToPort: 80, CIDRs: []string{"0.0.0.0/0"}}}}
	}
	if len(p.LiveInstances()) == 0 {
		p.Instances = append(p.Instances, observe.Instance{
			ID: unknown + "-i1", Type: o.instanceType(), State: "running", PublicIP: unknown,
			IMDSv2Required: true, Role: "web", SecurityGroups: []string{p.Network.WebSG.ID},
		})
	}
	return p
}

// checkLaunch asks EC2 to validate launching the type and AMI with its own
// DryRun (permission, type, image), without the network that may not exist
// yet.
func (e *Env) checkLaunch(ctx context.Context, typ string) error {
	info, err := CheckInstanceType(ctx, e.C, typ, nil)
	if err != nil {
		return err
	}
	ami, err := e.resolveAMI(ctx, info.Arch)
	if err != nil {
		return err
	}
	_, err = e.C.EC2.RunInstances(ctx, &ec2.RunInstancesInput{
		ImageId: aws.String(ami), InstanceType: ec2types.InstanceType(typ),
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1), DryRun: aws.Bool(true),
	})
	if isDryRunOK(err) {
		return nil
	}
	if err == nil {
		return fmt.Errorf("EC2 ignored DryRun and launched an instance; run `wtt down` to remove anything it left")
	}
	return err
}
