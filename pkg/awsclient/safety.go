package awsclient

import (
	"errors"
	"net"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
)

// A lost answer is the fault that retries make dangerous: AWS did the work,
// the response never arrived (a 5xx from a proxy, a dropped connection, a
// timeout), and the SDK's retryer sends the request again. Every mutating
// call wtt makes is listed below with what makes that repeat harmless.
// docs/reliability.md shows the same table, and a test fails when a
// mutating call appears in the code without an entry here.

// Safety is how a mutating call survives being sent twice.
type Safety string

const (
	// Token: the call's idempotency token (ClientToken, filled by the SDK
	// or set by wtt for the run) is made once, every retry repeats it, and
	// AWS answers a repeat with the first result.
	Token Safety = "token"
	// UniqueName: AWS keeps the name unique, so a repeat fails with a
	// conflict and wtt adopts the resource of that name.
	UniqueName Safety = "unique name"
	// AdoptOnConflict: a repeat fails with a conflict or duplicate error
	// and wtt finds what its own lost call created (by CIDR, name, caller
	// reference, or the lease's per-run id) and uses it.
	AdoptOnConflict Safety = "adopt on conflict"
	// Idempotent: repeating the call leaves AWS as one call would
	// (tags, attributes, upserts, stop/start/terminate, registrations).
	Idempotent Safety = "idempotent"
	// GoneIsDone: a delete whose repeat says the resource is not there;
	// wtt treats not-found as done.
	GoneIsDone Safety = "gone is done"
	// Reconcile: the call has no token and AWS does not refuse a repeat
	// (it would create or buy twice), so it is never retried blindly:
	// after an ambiguous failure wtt re-reads what exists (by tag, name or
	// recorded intent), adopts what the lost call made, and calls again only
	// when nothing was made.
	Reconcile Safety = "no blind retry + reconcile"
)

// CallSafety says how one mutating call is made safe, in a sentence.
type CallSafety struct {
	Safety Safety
	How    string
}

// MutatingCalls is every mutating AWS call wtt makes, by IAM action.
var MutatingCalls = map[string]CallSafety{
	// Money, no token: the one call where a blind retry costs a year.
	"ec2:PurchaseReservedInstancesOffering":   {Reconcile, "intent recorded in SSM before buying; after an ambiguous failure (or in a later run) Reserved Instances not in the intent's before-list are adopted; bought again only when none appeared"},
	"ec2:AllocateAddress":                     {Reconcile, "tagged at allocation with the instance it is for; after an ambiguous failure the app's addresses are read and a tagged one adopted"},
	"ec2:CreateVpc":                           {Reconcile, "tagged at creation; after an ambiguous failure the app's VPC is looked up by tag and adopted"},
	"ec2:CreateInternetGateway":               {Reconcile, "tagged at creation; after an ambiguous failure the app's gateway is looked up by tag and adopted"},
	"elasticloadbalancing:CreateLoadBalancer": {Reconcile, "AWS returns the existing load balancer for a repeat with the same name, the emulator makes a second one: after an ambiguous failure wtt looks it up by name"},
	"elasticloadbalancing:CreateListener":     {Reconcile, "AWS returns the existing listener for identical settings, the emulator may add a second: after an ambiguous failure wtt looks for the :80 listener"},
	"route53:CreateHostedZone":                {Reconcile, "AWS refuses a repeated CallerReference (HostedZoneAlreadyExists, then adopted), the emulator makes a second zone: after an ambiguous failure wtt looks the zone up by caller reference"},
	"autoscaling:CreateAutoScalingGroup":      {Reconcile, "AWS refuses a second group of the same name, the emulator replaces the first: after an ambiguous failure wtt looks it up by name"},

	"ec2:RunInstances":                {Token, "ClientToken set by wtt for this run, fleet and launch; instances are also found by tag before launching"},
	"ec2:CreateRouteTable":            {Token, "ClientToken filled by the SDK; tables are also found by role tag before creating"},
	"ec2:CreateLaunchTemplate":        {Token, "ClientToken set by wtt for this run and data; the name is unique too (AlreadyExists is adopted)"},
	"ec2:CreateLaunchTemplateVersion": {Token, "ClientToken set by wtt for this run and data"},
	"ec2:CreateVpcEndpoint":           {Token, "ClientToken set by wtt for this run and VPC (a later run must not get back an endpoint deleted since)"},

	"ec2:CreateSubnet":                       {AdoptOnConflict, "a repeat fails with InvalidSubnet.Conflict; the subnet with that CIDR in the app's VPC is adopted"},
	"ec2:CreateSecurityGroup":                {UniqueName, "InvalidGroup.Duplicate: the group of that name in the app's VPC is adopted"},
	"ec2:AuthorizeSecurityGroupIngress":      {AdoptOnConflict, "InvalidPermission.Duplicate means the rule is there"},
	"ec2:CreateRoute":                        {AdoptOnConflict, "RouteAlreadyExists means the route is there"},
	"ec2:AssociateRouteTable":                {AdoptOnConflict, "Resource.AlreadyAssociated means the association is there"},
	"ec2:AttachInternetGateway":              {AdoptOnConflict, "Resource.AlreadyAssociated means the gateway is attached"},
	"elasticloadbalancing:CreateTargetGroup": {UniqueName, "DuplicateTargetGroupName: the group of that name is adopted"},
	"autoscaling:StartInstanceRefresh":       {AdoptOnConflict, "InstanceRefreshInProgress: the refresh already running is waited for"},
	"iam:CreateRole":                         {UniqueName, "EntityAlreadyExists: the role of that name is adopted"},
	"iam:CreateInstanceProfile":              {UniqueName, "EntityAlreadyExists: the profile of that name is adopted"},
	"iam:AddRoleToInstanceProfile":           {AdoptOnConflict, "LimitExceeded when the role is already in the profile"},
	"s3:CreateBucket":                        {UniqueName, "BucketAlreadyOwnedByYou: the bucket is adopted"},
	"ssm:PutParameter":                       {AdoptOnConflict, "the lease is created only if absent: ParameterAlreadyExists holding this run's id is our own lease; heartbeats and the purchase intent overwrite"},

	"ec2:ModifyVpcAttribute":                           {Idempotent, "sets an attribute"},
	"ec2:ModifySubnetAttribute":                        {Idempotent, "sets an attribute"},
	"ec2:ModifyInstanceAttribute":                      {Idempotent, "sets the instance type"},
	"ec2:CreateTags":                                   {Idempotent, "sets tags"},
	"ec2:AssociateAddress":                             {Idempotent, "associating an address with the instance it is on changes nothing"},
	"ec2:StopInstances":                                {Idempotent, "stopping a stopped instance is a no-op"},
	"ec2:StartInstances":                               {Idempotent, "starting a running instance is a no-op"},
	"ec2:TerminateInstances":                           {Idempotent, "terminating a terminated instance is a no-op"},
	"elasticloadbalancing:RegisterTargets":             {Idempotent, "registering a registered target is a no-op"},
	"elasticloadbalancing:DeregisterTargets":           {Idempotent, "deregistering an unregistered target is a no-op"},
	"elasticloadbalancing:ModifyListener":              {Idempotent, "sets the default action"},
	"elasticloadbalancing:ModifyTargetGroup":           {Idempotent, "sets the health check"},
	"elasticloadbalancing:ModifyTargetGroupAttributes": {Idempotent, "sets attributes"},
	"elasticloadbalancing:SetSecurityGroups":           {Idempotent, "sets the list"},
	"elasticloadbalancing:SetSubnets":                  {Idempotent, "sets the list"},
	"autoscaling:UpdateAutoScalingGroup":               {Idempotent, "sets sizes and settings"},
	"autoscaling:PutScalingPolicy":                     {Idempotent, "a policy of the same name is overwritten"},
	"autoscaling:AttachLoadBalancerTargetGroups":       {Idempotent, "attaching an attached group is a no-op"},
	"autoscaling:CreateOrUpdateTags":                   {Idempotent, "sets tags"},
	"route53:ChangeResourceRecordSets":                 {Idempotent, "UPSERT; a DELETE is sent only for a record read just before, and a repeat's InvalidChangeBatch (not found) is done"},
	"route53:ChangeTagsForResource":                    {Idempotent, "sets tags"},
	"iam:PutRolePolicy":                                {Idempotent, "a policy of the same name is overwritten"},
	"iam:AttachRolePolicy":                             {Idempotent, "attaching an attached policy is a no-op"},
	"s3:PutObject":                                     {Idempotent, "content-addressed key: the same bytes again"},
	"s3:PutBucketTagging":                              {Idempotent, "sets tags"},
	"s3:PutPublicAccessBlock":                          {Idempotent, "sets the block"},
	"s3:DeleteObject":                                  {Idempotent, "deleting a missing key succeeds"},

	"ec2:DeleteVpc":                           {GoneIsDone, "InvalidVpcID.NotFound"},
	"ec2:DeleteSubnet":                        {GoneIsDone, "InvalidSubnetID.NotFound"},
	"ec2:DeleteSecurityGroup":                 {GoneIsDone, "InvalidGroup.NotFound"},
	"ec2:RevokeSecurityGroupIngress":          {GoneIsDone, "InvalidPermission.NotFound"},
	"ec2:DeleteInternetGateway":               {GoneIsDone, "InvalidInternetGatewayID.NotFound"},
	"ec2:DetachInternetGateway":               {GoneIsDone, "Gateway.NotAttached"},
	"ec2:DeleteRouteTable":                    {GoneIsDone, "InvalidRouteTableID.NotFound"},
	"ec2:DisassociateRouteTable":              {GoneIsDone, "InvalidAssociationID.NotFound"},
	"ec2:DeleteVpcEndpoints":                  {GoneIsDone, "an endpoint already deleted is reported as unsuccessful-not-found and counted as gone"},
	"ec2:DeleteLaunchTemplate":                {GoneIsDone, "InvalidLaunchTemplateId.NotFound"},
	"ec2:DisassociateAddress":                 {GoneIsDone, "InvalidAssociationID.NotFound"},
	"ec2:ReleaseAddress":                      {GoneIsDone, "InvalidAllocationID.NotFound"},
	"elasticloadbalancing:DeleteListener":     {GoneIsDone, "ListenerNotFound"},
	"elasticloadbalancing:DeleteLoadBalancer": {GoneIsDone, "deleting a missing load balancer succeeds"},
	"elasticloadbalancing:DeleteTargetGroup":  {GoneIsDone, "TargetGroupNotFound"},
	"autoscaling:DeleteAutoScalingGroup":      {GoneIsDone, "ValidationError: group not found"},
	"route53:DeleteHostedZone":                {GoneIsDone, "NoSuchHostedZone"},
	"iam:DeleteRole":                          {GoneIsDone, "NoSuchEntity"},
	"iam:DeleteRolePolicy":                    {GoneIsDone, "NoSuchEntity"},
	"iam:DetachRolePolicy":                    {GoneIsDone, "NoSuchEntity"},
	"iam:DeleteInstanceProfile":               {GoneIsDone, "NoSuchEntity"},
	"iam:RemoveRoleFromInstanceProfile":       {GoneIsDone, "NoSuchEntity"},
	"s3:DeleteBucket":                         {GoneIsDone, "NoSuchBucket"},
	"ssm:DeleteParameter":                     {GoneIsDone, "ParameterNotFound"},
}

// MutatingActions lists MutatingCalls' actions, sorted.
func MutatingActions() []string {
	out := make([]string, 0, len(MutatingCalls))
	for a := range MutatingCalls {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// AmbiguousError is a failure after which nobody knows whether AWS did the
// work: a 5xx or a lost connection on a call that must not be repeated
// blindly. The retryer stops on it; the caller reconciles.
type AmbiguousError struct {
	Action string
	Err    error
}

func (e *AmbiguousError) Error() string {
	return e.Action + ": no answer, so AWS may or may not have done it: " + e.Err.Error()
}
func (e *AmbiguousError) Unwrap() error { return e.Err }

// RetryableError tells the SDK's retryer not to send the call again.
func (e *AmbiguousError) RetryableError() bool { return false }

// IsAmbiguous reports whether err is an AmbiguousError.
func IsAmbiguous(err error) bool {
	var a *AmbiguousError
	return errors.As(err, &a)
}

// ambiguous reports whether a failed attempt may have been applied by AWS:
// a server error, or a connection that broke after the request left. A
// throttle or another 4xx is AWS saying no; a refused dial never left.
func ambiguous(err error) bool {
	var inj *injectedError
	if err == nil || errors.As(err, &inj) { // injected faults never left the process
		return false
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		if _, throttled := retry.DefaultThrottleErrorCodes[api.ErrorCode()]; throttled {
			return false
		}
	}
	var resp interface{ HTTPStatusCode() int }
	if errors.As(err, &resp) && resp.HTTPStatusCode() > 0 {
		return resp.HTTPStatusCode() >= 500
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return false
	}
	return true
}

// guardBlindRetry turns an ambiguous failure of a Reconcile call into an
// AmbiguousError, which the retryer does not retry.
func guardBlindRetry(action string, err error) error {
	if MutatingCalls[action].Safety == Reconcile && ambiguous(err) {
		return &AmbiguousError{Action: action, Err: err}
	}
	return err
}
