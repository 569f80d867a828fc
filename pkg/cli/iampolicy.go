package cli

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/whatsthetime/wtt/pkg/cmdutil"
	"github.com/whatsthetime/wtt/pkg/iampolicy"
	"github.com/whatsthetime/wtt/pkg/ladder"
	"github.com/whatsthetime/wtt/pkg/lease"
	"github.com/whatsthetime/wtt/pkg/printers"
)

func init() { extraCommands = append(extraCommands, newIAMPolicyCmd) }

// policyCommands are the commands iam-policy knows, in the order help
// lists them. Commands that call no AWS API contribute nothing.
var policyCommands = []string{"status", "review", "what-if", "diagram", "cost", "plan", "up", "migrate", "scale", "down", "run", "version", "iam-policy"}

// leasedCommands change AWS, and so take the app's operator lease (an SSM
// parameter) around their run.
var leasedCommands = []string{"up", "migrate", "scale", "down", "run"}

func newIAMPolicyCmd(f *Factory) *cobra.Command {
	var actionsOnly bool
	cmd := &cobra.Command{
		Use:   "iam-policy [COMMAND...]",
		Short: "Print the least-privilege IAM policy the given commands need",
		Long: `Print an IAM policy document that allows exactly the AWS calls the given wtt
commands can make, and nothing else: discovery, the checks made before
planning, every step any plan of the command can contain, and the operator
lease of commands that change AWS. With no COMMAND, the policy covers every
command (` + strings.Join(policyCommands, ", ") + `).

The policy is generated from the same step definitions the planner runs, so
it follows the code. Statements are grouped by service. Resource is "*"
where the API has no resource-level permissions (EC2, Elastic Load
Balancing, Auto Scaling, Route 53, STS, Service Quotas); wtt's own names
scope the rest: roles and instance profiles arn:aws:iam::*:role/wtt-* and
instance-profile/wtt-*, buckets arn:aws:s3:::wtt-*, the lease
arn:aws:ssm:*:*:parameter/wtt/*, and AWS's public Amazon Linux AMI
parameter.

Actions no call shows but AWS checks are included:
  iam:PassRole                  launching instances (and creating or updating the
                                Auto Scaling group) with wtt's instance profile
  iam:CreateServiceLinkedRole   the first load balancer or Auto Scaling group of
                                an account, when AWS creates the service's role
  ec2:CreateTags, elasticloadbalancing:AddTags, iam:TagRole,
  iam:TagInstanceProfile, ssm:AddTagsToResource, autoscaling:CreateOrUpdateTags
                                tags given when a resource is created
  ec2:RunInstances              creating or updating a group from a launch template

'plan' needs only reads. 'plan --dry-run=server' (and --dry-run=server on any
command) asks EC2 to validate the calls with DryRun, which IAM authorises as
the real call: give it the policy of the command it previews, e.g.
'wtt iam-policy migrate'.`,
		Example: `  wtt iam-policy > wtt-policy.json
  wtt iam-policy status plan              # read-only: safe for anyone
  wtt iam-policy up migrate --actions     # just the action names
  aws iam create-policy --policy-name wtt --policy-document "$(wtt iam-policy)"`,
		RunE: func(cmd *cobra.Command, args []string) error {
			calls, err := policyCalls(args)
			if err != nil {
				return err
			}
			doc := iampolicy.Build(calls)
			if actionsOnly {
				for _, a := range doc.AllActions() {
					fmt.Fprintln(f.IO.Out, a)
				}
				return nil
			}
			format := f.G.Output
			if format != "yaml" {
				format = "json" // a policy document is JSON; tables would only lose it
			}
			_, err = printers.Structured(f.IO.Out, format, doc)
			return err
		},
	}
	cmd.Flags().BoolVar(&actionsOnly, "actions", false, "print only the IAM action names, one a line")
	return cmd
}

// policyCalls gathers the calls of the named commands (all when none).
func policyCalls(commands []string) ([]string, error) {
	if len(commands) == 0 {
		commands = policyCommands
	}
	var calls []string
	for _, c := range commands {
		more, err := commandCalls(c)
		if err != nil {
			return nil, err
		}
		calls = append(calls, more...)
	}
	return calls, nil
}

func commandCalls(command string) ([]string, error) {
	if !slices.Contains(policyCommands, command) {
		return nil, cmdutil.Usagef("name commands among: "+strings.Join(policyCommands, ", "), "unknown command %q", command)
	}
	var calls []string
	switch command {
	case "version", "iam-policy":
		return nil, nil
	case "run":
		// A runbook runs up, migrate and scale operations.
		for _, c := range []string{"up", "migrate", "scale"} {
			more, err := ladder.CallsFor(c)
			if err != nil {
				return nil, err
			}
			calls = append(calls, more...)
		}
	default:
		more, err := ladder.CallsFor(command)
		if err != nil {
			return nil, err
		}
		calls = more
	}
	if slices.Contains(leasedCommands, command) {
		calls = append(calls, lease.Calls...)
	}
	return calls, nil
}
