// Package names validates the app name and derives every AWS resource name
// and tag from it, so one rule keeps all of them inside AWS's limits.
package names

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/whatsthetime/wtt/pkg/cmdutil"
)

// Tag keys every wtt resource carries; discovery filters on them.
const (
	TagApp       = "wtt:app"
	TagManagedBy = "wtt:managed-by"
	TagRole      = "wtt:role"
	ManagedBy    = "wtt"
)

// MaxAppLen keeps the longest derived name inside its AWS limit: target
// group names are at most 32 characters and ours is "wtt-<app>-tg".
const MaxAppLen = 24

var appPattern = regexp.MustCompile(`^[a-z]([a-z0-9-]*[a-z0-9])?$`)

// ValidateApp checks an app name and says how to fix a bad one.
func ValidateApp(app string) error {
	const fix = "use lowercase letters, digits and single hyphens, starting with a letter, e.g. --app whatsthetime"
	switch {
	case app == "":
		return cmdutil.Usagef(fix, "app name is empty")
	case len(app) > MaxAppLen:
		return cmdutil.Usagef(fmt.Sprintf("use at most %d characters (AWS limits the load balancer and target group names derived from it)", MaxAppLen),
			"app name %q is %d characters long", app, len(app))
	case !appPattern.MatchString(app) || strings.Contains(app, "--"):
		return cmdutil.Usagef(fix, "app name %q is not valid", app)
	}
	return nil
}

// Names derives resource names from a valid app name.
type Names struct{ App string }

func For(app string) Names { return Names{App: app} }

func (n Names) prefix() string    { return "wtt-" + n.App }
func (n Names) VPC() string       { return n.prefix() + "-vpc" }
func (n Names) WebSG() string     { return n.prefix() + "-web" }
func (n Names) ALBSG() string     { return n.prefix() + "-alb" }
func (n Names) PrivateSG() string { return n.prefix() + "-private" }
func (n Names) ALB() string       { return n.prefix() }
func (n Names) TargetGroup() string {
	return n.prefix() + "-tg"
}
func (n Names) LaunchTemplate() string { return n.prefix() + "-lt" }
func (n Names) ASG() string            { return n.prefix() + "-asg" }
func (n Names) ScalingPolicy() string  { return n.prefix() + "-cpu-target" }
func (n Names) Role() string           { return n.prefix() + "-instance" }
func (n Names) InstanceProfile() string {
	return n.prefix() + "-instance"
}
func (n Names) LeaseParameter() string { return "/wtt/" + n.App + "/lease" }

// ReservedIntentParameter records a Reserved Instance purchase about to be
// made, so a run that never saw its answer can tell whether it happened.
func (n Names) ReservedIntentParameter() string { return "/wtt/" + n.App + "/reserved-intent" }

// Bucket is globally unique, so it carries the account and region.
func (n Names) Bucket(account, region string) string {
	return fmt.Sprintf("%s-%s-%s", n.prefix(), account, region)
}
