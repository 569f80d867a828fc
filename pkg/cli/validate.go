package cli

import (
	"context"
	"errors"
	"net/url"
	"os"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/whatsthetime/wtt/pkg/cmdutil"
	"github.com/whatsthetime/wtt/pkg/ladder"
	"github.com/whatsthetime/wtt/pkg/stage"
)

// Bad input is refused before AWS is touched whenever it can be, and with
// exit 2 and a fix always: the checks here cover what cobra and the flag
// validators of each command leave out.

// regionPattern is the shape of every AWS region name: us-east-1,
// ap-southeast-2, us-gov-west-1, cn-north-1, us-isob-east-1.
var regionPattern = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$`)

// validateConnection checks the region and endpoint from flags, config and
// environment: a malformed one would otherwise surface only after every
// call has exhausted its retries.
func validateConnection(region, endpoint string) error {
	for _, r := range []struct{ value, from string }{{region, "--region"}, {os.Getenv("AWS_REGION"), "AWS_REGION"}, {os.Getenv("AWS_DEFAULT_REGION"), "AWS_DEFAULT_REGION"}} {
		if r.value != "" && !regionPattern.MatchString(r.value) {
			return cmdutil.Usagef("pass a region name such as us-east-1 (aws ec2 describe-regions lists them)", "%s %q is not an AWS region name", r.from, r.value)
		}
	}
	for _, e := range []struct{ value, from string }{{endpoint, "--endpoint-url"}, {os.Getenv("AWS_ENDPOINT_URL"), "AWS_ENDPOINT_URL"}} {
		if e.value == "" {
			continue
		}
		u, err := url.Parse(e.value)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return cmdutil.Usagef("pass an absolute http(s) URL, e.g. --endpoint-url http://127.0.0.1:4566", "%s %q is not an http(s) URL", e.from, e.value)
		}
	}
	return nil
}

// awsConfigError turns what the SDK says about a bad profile or a missing
// region into bad input with its fix; other errors pass unchanged.
func awsConfigError(err error) error {
	var pe config.SharedConfigProfileNotExistError
	if errors.As(err, &pe) {
		return cmdutil.Usagef("pass a profile from `aws configure list-profiles`, or leave --profile out",
			"AWS profile %q does not exist", pe.Profile)
	}
	if err != nil && strings.HasPrefix(err.Error(), "no AWS region set") {
		return cmdutil.Usagef("pass --region, set AWS_REGION, or set region in your AWS profile", "no AWS region set")
	}
	return err
}

// asUsageError turns cobra's own complaints about arguments (an unknown
// subcommand, an argument a command does not take) into bad input with a
// fix, so they exit 2 like every other bad invocation.
func asUsageError(err error) error {
	if err == nil || cmdutil.IsUsage(err) {
		return err
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "unknown command ") && !strings.Contains(msg, " arg(s), received ") {
		return err
	}
	path := "wtt"
	if _, quoted, ok := strings.Cut(msg, ` for "`); ok {
		path, _, _ = strings.Cut(quoted, `"`)
	}
	problem, _, _ := strings.Cut(msg, "\n") // cobra appends suggestions on later lines
	fix := "see `" + path + " --help`"
	if path == "wtt" {
		fix = "run `wtt --help` for the list of commands"
	} else if strings.HasPrefix(msg, "unknown command ") {
		fix = "`" + path + "` takes no arguments, only flags; see `" + path + " --help`"
	}
	return cmdutil.Usagef(fix, "%s", problem)
}

// validateLaunchInputs checks the launch flags that name things outside
// wtt: the server binary must exist before a plan that needs it starts
// creating the network, and an AMI must look like one.
func validateLaunchInputs(o ladder.Options) error {
	if o.AMI != "" && !ladder.ValidAMIID(o.AMI) {
		return cmdutil.Usagef("pass an AMI ID such as ami-0123456789abcdef0, or leave --ami out to use the newest Amazon Linux 2023",
			"--ami %q is not an AMI ID", o.AMI)
	}
	if p := o.ServerBinary; p != "" {
		fi, err := os.Stat(p)
		switch {
		case err != nil:
			return cmdutil.Usagef("build it with `make build` (or GOOS=linux CGO_ENABLED=0 go build ./timeserver) and pass its path",
				"--server-binary %s: %v", p, errors.Unwrap(err))
		case fi.IsDir():
			return cmdutil.Usagef("pass the path of the linux time server binary itself", "--server-binary %s is a directory", p)
		}
	}
	return nil
}

// amiCheck asks EC2 whether an --ami given on the command line exists,
// before planning.
func amiCheck(ami string) func(ctx context.Context, e *ladder.Env) error {
	return func(ctx context.Context, e *ladder.Env) error {
		if ami == "" {
			return nil
		}
		return ladder.CheckAMI(ctx, e.C, ami)
	}
}

// dnsPreviewCheck runs the dns rung's read-only preview before planning a
// migration to dns: it refuses a second name for an app already published
// (which the planner cannot see once the app is at dns, and would answer
// "no changes") or a name another record already uses, and tells the plan
// which hosted zone it will use.
func dnsPreviewCheck(target stage.Stage, name string) func(ctx context.Context, e *ladder.Env) error {
	return func(ctx context.Context, e *ladder.Env) error {
		if target != stage.DNS || name == "" {
			return nil
		}
		return e.PreviewZone(ctx, name)
	}
}
