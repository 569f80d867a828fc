// Package observe discovers what exists in AWS for an app, by its tags. It
// is the only source of truth wtt has: there is no local state file, so a
// crashed or concurrent run is seen exactly as AWS sees it.
package observe

import "time"

// State is everything tagged for one app in one region, as observed.
type State struct {
	App     string `json:"app"`
	Region  string `json:"region"`
	Account string `json:"account,omitempty"`

	Network Network `json:"network"`
	// StrayNetworks are extra VPCs tagged for the app, left by a create
	// whose answer was lost and retried; `down` deletes them.
	StrayNetworks []Network  `json:"strayNetworks,omitempty"`
	Instances     []Instance `json:"instances"`
	EIPs          []EIP      `json:"eips"`
	DNS           *DNS       `json:"dns,omitempty"`

	LoadBalancer   *LoadBalancer   `json:"loadBalancer,omitempty"`
	TargetGroup    *TargetGroup    `json:"targetGroup,omitempty"`
	LaunchTemplate *LaunchTemplate `json:"launchTemplate,omitempty"`
	Group          *Group          `json:"autoScalingGroup,omitempty"`
	Reserved       []Reserved      `json:"reservedInstances"`

	// Delivery: where instances fetch the time server from.
	Bucket          string `json:"bucket,omitempty"`
	InstanceProfile string `json:"instanceProfile,omitempty"`
	Role            string `json:"role,omitempty"`
	// RoleInProfile: the profile holds the role. wtt adds the role to the
	// profile last, after the role's policies, so the whole role is there.
	RoleInProfile bool `json:"-"`
}

// Network is the app's own VPC and what hangs off it.
type Network struct {
	VPCID        string         `json:"vpcId,omitempty"`
	CIDR         string         `json:"cidr,omitempty"`
	Subnets      []Subnet       `json:"subnets,omitempty"`
	IGWID        string         `json:"internetGatewayId,omitempty"`
	IGWAttached  bool           `json:"internetGatewayAttached,omitempty"`
	RouteTables  []RouteTable   `json:"routeTables,omitempty"`
	S3EndpointID string         `json:"s3EndpointId,omitempty"`
	WebSG        *SecurityGroup `json:"webSecurityGroup,omitempty"`
	ALBSG        *SecurityGroup `json:"albSecurityGroup,omitempty"`
	PrivateSG    *SecurityGroup `json:"privateSecurityGroup,omitempty"`
	// Tags on the VPC carry the few decisions that live nowhere else in
	// AWS, such as which DNS name the app is published under.
	Tags map[string]string `json:"-"`
}

type Subnet struct {
	ID     string `json:"id"`
	AZ     string `json:"az"`
	CIDR   string `json:"cidr"`
	Public bool   `json:"public"`
}

type RouteTable struct {
	ID      string   `json:"id"`
	Public  bool     `json:"public"`
	Subnets []string `json:"subnets,omitempty"`
	// AssociationIDs must be disassociated before the table can go.
	AssociationIDs []string `json:"-"`
}

type SecurityGroup struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Ingress []Rule `json:"ingress,omitempty"`
}

// Rule is one ingress permission, flattened.
type Rule struct {
	Protocol     string   `json:"protocol"`
	FromPort     int32    `json:"fromPort"`
	ToPort       int32    `json:"toPort"`
	CIDRs        []string `json:"cidrs,omitempty"`
	SourceGroups []string `json:"sourceGroups,omitempty"`
}

// Covers reports whether the rule admits tcp traffic on port.
func (r Rule) Covers(port int32) bool {
	if r.Protocol == "-1" {
		return true
	}
	return r.Protocol == "tcp" && r.FromPort <= port && port <= r.ToPort
}

type Instance struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	State     string `json:"state"`
	AZ        string `json:"az"`
	SubnetID  string `json:"subnetId,omitempty"`
	PublicIP  string `json:"publicIp,omitempty"`
	PrivateIP string `json:"privateIp,omitempty"`
	EIP       string `json:"eip,omitempty"`
	// describedPublicIP is the public IP DescribeInstances gave, before
	// the Elastic IP (read apart) overrides it.
	describedPublicIP string
	SecurityGroups    []string  `json:"securityGroups,omitempty"`
	IMDSv2Required    bool      `json:"imdsv2Required"`
	Group             string    `json:"autoScalingGroup,omitempty"`
	Role              string    `json:"role,omitempty"`
	LaunchTime        time.Time `json:"launchTime,omitempty"`
	// Spot instances can be reclaimed by AWS with two minutes' notice.
	Spot bool `json:"spot,omitempty"`
	// Arch is the architecture EC2 says it runs (x86_64, arm64).
	Arch string `json:"-"`
	// DNSDrainSeconds and RetireAfter are the alb rung's record of a DNS
	// switch (tags TagDNSDrain and TagRetireAfter): how long the instance
	// must keep serving clients that cached its address, and the moment it
	// may go. Zero when not tagged.
	DNSDrainSeconds int64     `json:"dnsDrainSeconds,omitempty"`
	RetireAfter     time.Time `json:"retireAfter,omitzero"`
}

// DNSDrain is DNSDrainSeconds as a duration.
func (i Instance) DNSDrain() time.Duration { return time.Duration(i.DNSDrainSeconds) * time.Second }

// Live reports whether the instance counts toward the fleet.
func (i Instance) Live() bool { return i.State == "pending" || i.State == "running" }

type EIP struct {
	AllocationID  string `json:"allocationId"`
	PublicIP      string `json:"publicIp"`
	InstanceID    string `json:"instanceId,omitempty"`
	AssociationID string `json:"associationId,omitempty"`
}

type DNS struct {
	ZoneID    string `json:"zoneId"`
	ZoneName  string `json:"zoneName"`
	ZoneOwned bool   `json:"zoneCreatedByWtt"`
	Name      string `json:"name"`
	// Type is "A" (values or alias) or "CNAME"; empty when the record is not
	// there yet.
	Type        string   `json:"type,omitempty"`
	TTL         int64    `json:"ttl,omitempty"`
	Values      []string `json:"values,omitempty"`
	AliasTarget string   `json:"aliasTarget,omitempty"`
}

type LoadBalancer struct {
	ARN             string   `json:"arn"`
	Name            string   `json:"name"`
	DNSName         string   `json:"dnsName"`
	CanonicalZoneID string   `json:"canonicalHostedZoneId,omitempty"`
	Scheme          string   `json:"scheme"`
	State           string   `json:"state"`
	AZs             []string `json:"azs"`
	Subnets         []string `json:"subnets"`
	SecurityGroups  []string `json:"securityGroups"`
	ListenerARN     string   `json:"listenerArn,omitempty"`
	// ListenerTarget is the target group the :80 listener forwards to.
	ListenerTarget string `json:"listenerTargetGroupArn,omitempty"`
}

type TargetGroup struct {
	ARN        string   `json:"arn"`
	Name       string   `json:"name"`
	Protocol   string   `json:"protocol"`
	Port       int32    `json:"port"`
	HealthPath string   `json:"healthCheckPath"`
	Targets    []Target `json:"targets"`
	// The health check's timing decides how long a dead target keeps
	// receiving requests (interval x unhealthy threshold) and how long a new
	// one waits before it gets any (interval x healthy threshold).
	HealthInterval     int32 `json:"healthCheckIntervalSeconds,omitempty"`
	HealthTimeout      int32 `json:"healthCheckTimeoutSeconds,omitempty"`
	HealthyThreshold   int32 `json:"healthyThresholdCount,omitempty"`
	UnhealthyThreshold int32 `json:"unhealthyThresholdCount,omitempty"`
}

type Target struct {
	ID     string `json:"id"`
	Health string `json:"health"`
}

type LaunchTemplate struct {
	ID             string   `json:"id"`
	Name           string   `json:"name"`
	LatestVersion  int64    `json:"latestVersion"`
	DefaultVersion int64    `json:"defaultVersion"`
	InstanceType   string   `json:"instanceType"`
	IMDSv2Required bool     `json:"imdsv2Required"`
	PublicIP       bool     `json:"associatePublicIp"`
	SecurityGroups []string `json:"securityGroups,omitempty"`
}

type Group struct {
	Name              string   `json:"name"`
	Min               int32    `json:"min"`
	Max               int32    `json:"max"`
	Desired           int32    `json:"desired"`
	AZs               []string `json:"azs"`
	Subnets           []string `json:"subnets"`
	InstanceType      string   `json:"instanceType"`
	TemplateVersion   string   `json:"launchTemplateVersion,omitempty"`
	TargetGroupARNs   []string `json:"targetGroupArns,omitempty"`
	HealthCheckType   string   `json:"healthCheckType"`
	GracePeriod       int32    `json:"healthCheckGracePeriod"`
	CapacityRebalance bool     `json:"capacityRebalance"`
	TargetTracking    []string `json:"targetTrackingPolicies,omitempty"`
	Instances         []string `json:"instances,omitempty"`
}

type Reserved struct {
	ID            string    `json:"id"`
	InstanceType  string    `json:"instanceType"`
	Count         int32     `json:"count"`
	State         string    `json:"state"`
	Scope         string    `json:"scope"`
	AZ            string    `json:"az,omitempty"`
	OfferingClass string    `json:"offeringClass,omitempty"`
	OfferingType  string    `json:"offeringType,omitempty"`
	FixedPrice    float64   `json:"fixedPrice"`
	HourlyPrice   float64   `json:"hourlyPrice"`
	Start         time.Time `json:"start,omitempty"`
	End           time.Time `json:"end,omitempty"`
	// BoughtByWtt: tagged for this app by the reserved rung. Untagged ones
	// (bought by anyone else in the account) cover the group all the same.
	BoughtByWtt bool `json:"boughtByWtt"`
}

// Covering reports whether a reservation discounts running instances now.
// AWS bills a payment-pending reservation as active.
func (r Reserved) Covering() bool { return r.State == "active" || r.State == "payment-pending" }

// LiveInstances returns the instances that are pending or running.
func (s *State) LiveInstances() []Instance {
	var out []Instance
	for _, i := range s.Instances {
		if i.Live() {
			out = append(out, i)
		}
	}
	return out
}

// Standalone returns live instances that no Auto Scaling group owns.
func (s *State) Standalone() []Instance {
	var out []Instance
	for _, i := range s.LiveInstances() {
		if i.Group == "" {
			out = append(out, i)
		}
	}
	return out
}

// Subnets returns the app's subnets that are public (or private), ordered by AZ.
func (n Network) SubnetsWhere(public bool) []Subnet {
	var out []Subnet
	for _, s := range n.Subnets {
		if s.Public == public {
			out = append(out, s)
		}
	}
	return out
}

// Empty reports whether nothing at all is tagged for the app.
func (s *State) Empty() bool {
	return s.Network.VPCID == "" && len(s.StrayNetworks) == 0 && len(s.Instances) == 0 && len(s.EIPs) == 0 &&
		s.DNS == nil && s.LoadBalancer == nil && s.TargetGroup == nil &&
		s.LaunchTemplate == nil && s.Group == nil && s.Bucket == "" &&
		s.InstanceProfile == "" && s.Role == ""
}

// TagDNSName and TagDNSZone are the VPC tags that remember where the app is
// published, so later rungs and `down` find the record without local state.
const (
	TagDNSName = "wtt:dns-name"
	TagDNSZone = "wtt:dns-zone-id"
)

// TagDNSDrain and TagRetireAfter are the instance tags with which the alb
// rung records, on AWS, a switch of the DNS record away from the
// instances: the drain (a Go duration, set before the switch) and the
// moment they may be terminated (RFC 3339, set once the switch is served
// everywhere). A re-run after a crash waits only what is left.
const (
	TagDNSDrain    = "wtt:dns-drain"
	TagRetireAfter = "wtt:retire-after"
)
