package cli

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/whatsthetime/wtt/pkg/cmdutil"
	"github.com/whatsthetime/wtt/pkg/ladder"
	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/plan"
)

// ladderFlags are the options of the rungs, shared by up, plan, migrate,
// scale and run.
type ladderFlags struct {
	o      ladder.Options
	dryRun string
}

func (lf *ladderFlags) addLaunch(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&lf.o.InstanceType, "instance-type", "", "instance type for new instances (default t2.micro, or the fleet's current type)")
	fl.StringVar(&lf.o.AMI, "ami", "", "AMI to launch (default: the newest Amazon Linux 2023, from AWS's public SSM parameter)")
	fl.StringVar(&lf.o.ServerBinary, "server-binary", "", "linux build of the time server to deliver (default: whatsthetime-linux-<arch> beside wtt)")
}

func (lf *ladderFlags) addRungs(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&lf.o.DNSName, "dns-name", "", "DNS name to publish, e.g. api.whatisthetime.com (config dns.name; required by the dns rung)")
	fl.Int64Var(&lf.o.TTL, "ttl", 60, "TTL of the A record, 1..86400 seconds; clients may keep a removed address this long")
	fl.DurationVar(&lf.o.DNSDrain, "dns-drain", 0, "alb: how long the public instances keep serving after DNS moves to the load balancer, for clients that cached their addresses (default: the old record's TTL; 0s retires them at once, and those clients fail for up to the TTL)")
	fl.StringVar(&lf.o.RecordType, "record-type", "alias", "how DNS points at the load balancer: alias (A alias) or cname (not at a zone apex)")
	fl.IntVar(&lf.o.AZs, "azs", 0, "multi-az: number of AZs to span (default up to 3)")
	fl.Int32Var(&lf.o.Min, "min", 0, "Auto Scaling group minimum size (default: derived from today's fleet)")
	fl.Int32Var(&lf.o.Max, "max", 0, "Auto Scaling group maximum size (default: derived from today's fleet)")
	fl.Int32Var(&lf.o.Desired, "desired", 0, "Auto Scaling group desired capacity (default: today's fleet size)")
	fl.Float64Var(&lf.o.CPUTarget, "cpu-target", 50, "target-tracking policy: average CPU utilisation to hold, in percent")
	fl.StringVar(&lf.o.Term, "term", "1y", "reserved: term of the Reserved Instances, 1y or 3y")
	fl.StringVar(&lf.o.OfferingClass, "offering-class", "standard", "reserved: standard or convertible")
	fl.StringVar(&lf.o.Payment, "payment", "no-upfront", "reserved: no-upfront, partial-upfront or all-upfront")
	fl.Float64Var(&lf.o.MaxUpfront, "max-upfront", -1, "reserved: refuse a plan that pays more than this many USD up front")
}

var dnsNamePattern = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\.?$`)

// validate checks the rung flags without touching AWS.
func (lf *ladderFlags) validate(cmd *cobra.Command) error {
	return validateOptions(&lf.o, cmd.Flags().Changed)
}

// validateOptions checks rung options from flags or a runbook; changed
// says whether the user set an option (some zero values are defaults).
func validateOptions(o *ladder.Options, changed func(name string) bool) error {
	if o.DNSName != "" {
		o.DNSName = strings.TrimSuffix(strings.ToLower(o.DNSName), ".")
		if len(o.DNSName) > 253 || !dnsNamePattern.MatchString(o.DNSName) {
			return cmdutil.Usagef("pass a fully qualified name such as api.whatisthetime.com", "--dns-name %q is not a valid DNS name", o.DNSName)
		}
		if strings.Count(o.DNSName, ".") < 1 {
			return cmdutil.Usagef("pass a name inside a domain, e.g. api.whatisthetime.com", "--dns-name %q has no parent domain", o.DNSName)
		}
	}
	if changed("ttl") && (o.TTL < 1 || o.TTL > 86400) {
		return cmdutil.Usagef("pass a TTL between 1 and 86400 seconds (60 is a good start)", "--ttl %d is out of range", o.TTL)
	}
	if changed("dns-drain") {
		if o.DNSDrain < 0 || o.DNSDrain > 48*time.Hour {
			return cmdutil.Usagef("pass a duration such as --dns-drain 5m, or 0s to skip the wait", "--dns-drain %s is out of range (0s to 48h)", o.DNSDrain)
		}
		o.DNSDrainSet = true
	}
	switch o.RecordType {
	case "alias", "cname":
	default:
		return cmdutil.Usagef("use --record-type=alias or --record-type=cname", "unknown --record-type %q", o.RecordType)
	}
	if o.AZs < 0 || o.AZs > 6 {
		return cmdutil.Usagef("pass --azs between 2 and 6 (default: up to 3)", "--azs %d is out of range", o.AZs)
	}
	if changed("azs") && o.AZs < 2 {
		return cmdutil.Usagef("multi-az needs at least 2 AZs", "--azs %d is too few", o.AZs)
	}
	for name, v := range map[string]int32{"min": o.Min, "max": o.Max, "desired": o.Desired} {
		if v < 0 || v > 100 {
			return cmdutil.Usagef("pass a size between 0 and 100", "--%s %d is out of range", name, v)
		}
	}
	if o.Max > 0 && o.Min > o.Max {
		return cmdutil.Usagef("make --min at most --max", "--min %d is above --max %d", o.Min, o.Max)
	}
	if o.Desired > 0 && ((o.Max > 0 && o.Desired > o.Max) || o.Desired < o.Min) {
		return cmdutil.Usagef("make --desired lie between --min and --max", "--desired %d is outside [%d, %d]", o.Desired, o.Min, o.Max)
	}
	if o.CPUTarget <= 0 || o.CPUTarget > 100 {
		return cmdutil.Usagef("pass a percentage such as --cpu-target 50", "--cpu-target %g is not a percentage in (0, 100]", o.CPUTarget)
	}
	if o.Term != "1y" && o.Term != "3y" {
		return cmdutil.Usagef("use --term 1y or --term 3y", "unknown --term %q", o.Term)
	}
	if o.OfferingClass != "standard" && o.OfferingClass != "convertible" {
		return cmdutil.Usagef("use --offering-class standard or convertible", "unknown --offering-class %q", o.OfferingClass)
	}
	switch o.Payment {
	case "no-upfront", "partial-upfront", "all-upfront":
	default:
		return cmdutil.Usagef("use --payment no-upfront, partial-upfront or all-upfront", "unknown --payment %q", o.Payment)
	}
	if changed("max-upfront") && o.MaxUpfront < 0 {
		return cmdutil.Usagef("pass an amount in USD, e.g. --max-upfront 500", "--max-upfront must not be negative")
	}
	return nil
}

func (lf *ladderFlags) validateLaunch() error {
	if t := lf.o.InstanceType; t != "" && !regexp.MustCompile(`^[a-z][a-z0-9-]*\.[a-z0-9]+$`).MatchString(t) {
		return cmdutil.Usagef("instance types look like t2.micro or m5.large", "--instance-type %q is not an instance type", t)
	}
	return validateLaunchInputs(lf.o)
}

func newUpCmd(f *Factory) *cobra.Command {
	lf := &ladderFlags{}
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Create the app at stage single: one instance answering on a public address",
		Long: `Create the app at stage single, in its own VPC: public and private subnets in up
to 3 AZs, an internet gateway, an S3 gateway endpoint (so private instances can
fetch the time server later without a NAT gateway), a security group with
tcp/80 from anywhere and no SSH, and one instance (IMDSv2 required, encrypted
root volume) that installs the time server at boot.

Running it again changes nothing; after an interruption it finishes the job.

up returns once EC2 says the instance runs; the time server answers a little
later, once the boot script has installed and started it. --wait waits for
that too: it asks GET /healthz on the instance's public address every second
(progress on stderr) and fails, saying what to check, if nothing answers in
time. Against the emulator this needs its data plane (docs/emulator.md).`,
		Example: `  wtt up
  wtt up --instance-type t3.small --dry-run
  wtt up --yes -o json
  wtt up --yes --wait          # and wait (up to 5m) until the time server answers
  wtt up --yes --wait=90s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			dr, err := parseDryRun(lf.dryRun)
			if err != nil {
				return err
			}
			if err := lf.validateLaunch(); err != nil {
				return err
			}
			if err := validateUpWait(cmd, wait, dr); err != nil {
				return err
			}
			var after func(ctx context.Context, e *ladder.Env) error
			if cmd.Flags().Changed("wait") {
				after = func(ctx context.Context, e *ladder.Env) error { return f.waitAnswering(ctx, e, wait) }
			}
			return f.apply(cmd, applyRequest{
				After:    after,
				Opts:     lf.o,
				DryRun:   dr,
				PreCheck: allChecks(instanceTypeCheck(lf.o.InstanceType), amiCheck(lf.o.AMI)),
				Build: func(s *observe.State) (*plan.Plan, error) {
					return ladder.Up(s, lf.o)
				},
			})
		},
	}
	lf.addLaunch(cmd)
	addDryRunFlag(cmd, &lf.dryRun)
	addUpWaitFlag(cmd, &wait)
	return cmd
}

func newVersionCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print wtt's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v := map[string]string{"version": Version, "commit": Commit, "date": Date}
			if f.G.Output == "json" || f.G.Output == "yaml" {
				_, err := printersStructured(f, v)
				return err
			}
			fmt.Fprintf(f.IO.Out, "wtt %s (commit %s, built %s)\n", Version, Commit, Date)
			return nil
		},
	}
}
