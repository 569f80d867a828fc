package cli

import (
	"context"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/spf13/cobra"

	"github.com/whatsthetime/wtt/pkg/awsclient"
	"github.com/whatsthetime/wtt/pkg/printers"
	"github.com/whatsthetime/wtt/pkg/stage"
)

// Shell completion that knows the domain: the ladder's stages after --to,
// the region's instance types after --vertical and --instance-type, the
// Reserved Instance choices, runbook files after -f. Cobra's own
// `wtt completion bash|zsh|fish|powershell` writes the shell script; the
// functions here answer its `wtt __complete ...` questions.

// stageHelp is what each stage means, shown beside it by zsh and fish.
var stageHelp = map[stage.Stage]string{
	stage.Single:   "one instance with a public IPv4",
	stage.EIP:      "every instance has an Elastic IP",
	stage.DNS:      "a Route 53 A record lists the instances",
	stage.ALB:      "a load balancer in front; instances private",
	stage.ASG:      "an Auto Scaling group owns the instances",
	stage.MultiAZ:  "the group and the load balancer span several AZs",
	stage.Reserved: "Reserved Instances cover the group's minimum",
}

// fallbackInstanceTypes are offered when the region cannot be asked (no
// credentials, no network): the story's types and common small ones.
var fallbackInstanceTypes = []string{
	"t2.micro", "t2.small", "t2.medium", "t3.micro", "t3.small", "t3.medium", "t3.large",
	"t4g.micro", "t4g.small", "t4g.medium", "m5.large", "m5.xlarge", "m6i.large", "m6i.xlarge",
	"m6g.large", "m7g.large", "c5.large", "c6i.large", "c7g.large", "r5.large",
}

// completionTimeout bounds the AWS question: a shell waiting on a Tab key
// must not hang on a slow or absent network. WTT_COMPLETION_TIMEOUT (a
// hidden knob, like WTT_MAX_BACKOFF) lets the tests wait for an emulator on
// a loaded machine.
func completionTimeout() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("WTT_COMPLETION_TIMEOUT")); err == nil && d > 0 {
		return d
	}
	return 3 * time.Second
}

func registerCompletions(root *cobra.Command, f *Factory) {
	fixed := func(values ...string) cobra.CompletionFunc {
		return cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp)
	}
	stages := func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		var out []string
		for _, s := range stage.Ladder {
			if s != stage.None && strings.HasPrefix(string(s), toComplete) {
				out = append(out, string(s)+"\t"+stageHelp[s])
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
	types := func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		return f.completeInstanceTypes(cmd, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
	root.RegisterFlagCompletionFunc("output", fixed(printers.Formats...))
	for _, c := range root.Commands() {
		register := func(flag string, fn cobra.CompletionFunc) {
			if c.Flags().Lookup(flag) != nil {
				_ = c.RegisterFlagCompletionFunc(flag, fn)
			}
		}
		register("to", stages)
		register("vertical", types)
		register("instance-type", types)
		register("payment", fixed("no-upfront\tpay monthly only", "partial-upfront\tpart now, a lower monthly rate", "all-upfront\teverything now, no monthly charge"))
		register("term", fixed("1y", "3y"))
		register("offering-class", fixed("standard\tcheapest; type fixed", "convertible\tcan be exchanged for other types"))
		register("record-type", fixed("alias\tA alias to the load balancer", "cname\tCNAME, not at a zone apex"))
		register("dry-run", fixed("client\tplan only", "server\talso ask EC2 to validate"))
		if c.Name() == "run" {
			register("file", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
				return []string{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
			})
		}
	}
}

// completeInstanceTypes asks the region which types it offers (one
// paginated DescribeInstanceTypeOfferings, best effort) and falls back to a
// fixed list when it cannot.
func (f *Factory) completeInstanceTypes(cmd *cobra.Command, prefix string) []string {
	offered := f.offeredTypes(cmd)
	if len(offered) == 0 {
		offered = fallbackInstanceTypes
	}
	var out []string
	for _, t := range offered {
		if strings.HasPrefix(t, prefix) {
			out = append(out, t)
		}
	}
	return out
}

func (f *Factory) offeredTypes(cmd *cobra.Command) []string {
	// Completion runs without the root's pre-run: merge config, environment
	// and flags here, and give up quietly on anything wrong.
	if err := f.resolveGlobals(cmd); err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), completionTimeout())
	defer cancel()
	c, err := awsclient.Load(ctx, awsclient.Options{Region: f.G.Region, Profile: f.G.Profile, EndpointURL: f.G.EndpointURL, MaxAttempts: 1})
	if err != nil {
		return nil
	}
	if _, err := c.Config.Credentials.Retrieve(ctx); err != nil {
		return nil
	}
	var types []string
	pages := ec2.NewDescribeInstanceTypeOfferingsPaginator(c.EC2, &ec2.DescribeInstanceTypeOfferingsInput{
		LocationType: ec2types.LocationTypeRegion, MaxResults: aws.Int32(1000),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil
		}
		for _, o := range page.InstanceTypeOfferings {
			types = append(types, string(o.InstanceType))
		}
	}
	slices.Sort(types)
	return slices.Compact(types)
}
