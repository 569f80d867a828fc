package ladder

import (
	"slices"
	"testing"

	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/plan"
)

func TestLaunchTypesReadTheDeliveringSteps(t *testing.T) {
	p := &plan.Plan{Steps: []*plan.Step{
		{Resource: "network 10.40.0.0/16", Calls: []string{"ec2:CreateVpc"}},
		{Resource: "2 private instance(s) m6g.large behind the load balancer", Calls: []string{"s3:PutObject", "ec2:RunInstances"}},
		{Resource: "instance i-1: t2.micro -> c5.xlarge (stop, change type, start)", Calls: []string{"ec2:ModifyInstanceAttribute"}},
	}}
	if got := launchTypes(p, &observe.State{}); !slices.Equal(got, []string{"m6g.large"}) {
		t.Errorf("launchTypes = %v, want [m6g.large]", got)
	}
	if !delivers(p) {
		t.Error("a plan with s3:PutObject delivers")
	}
	// Nothing named: the fleet's type, else the default.
	q := &plan.Plan{Steps: []*plan.Step{{Resource: "launch template", Calls: []string{"s3:PutObject"}}}}
	s := &observe.State{Instances: []observe.Instance{{ID: "i-1", Type: "m5.large", State: "running"}}}
	if got := launchTypes(q, s); !slices.Equal(got, []string{"m5.large"}) {
		t.Errorf("launchTypes from the fleet = %v", got)
	}
	if got := launchTypes(q, &observe.State{}); !slices.Equal(got, []string{DefaultInstanceType}) {
		t.Errorf("launchTypes of nothing = %v", got)
	}
}

func TestMayBeArm(t *testing.T) {
	for typ, want := range map[string]bool{
		"t4g.micro": true, "m6gd.large": true, "c7gn.xlarge": true, "a1.medium": true, "im4gn.large": true, "hpc7g.4xlarge": true,
		"t2.micro": false, "m5.large": false, "g4dn.xlarge": false, "m7i-flex.large": false, "p5e.48xlarge": false,
	} {
		if got := mayBeArm(typ); got != want {
			t.Errorf("mayBeArm(%s) = %v, want %v", typ, got, want)
		}
	}
}
