package ladder

import (
	"context"
	"fmt"
	"regexp"

	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/whatsthetime/wtt/pkg/awsclient"
	"github.com/whatsthetime/wtt/pkg/cmdutil"
)

// amiPattern is the shape of an AMI ID: ami- and 8 or 17 hex digits.
var amiPattern = regexp.MustCompile(`^ami-([0-9a-f]{8}|[0-9a-f]{17})$`)

// ValidAMIID reports whether id looks like an AMI ID, without AWS.
func ValidAMIID(id string) bool { return amiPattern.MatchString(id) }

// CheckAMI refuses, before anything is created, an --ami that EC2 does not
// know or cannot launch: RunInstances would only say so after the network,
// bucket and role of a new app exist.
func CheckAMI(ctx context.Context, c *awsclient.Clients, id string) error {
	const fix = "pass an AMI ID from `aws ec2 describe-images`, or leave --ami out to use the newest Amazon Linux 2023"
	if !ValidAMIID(id) {
		return cmdutil.Usagef(fix, "--ami %q is not an AMI ID (ami- and 8 or 17 hex digits)", id)
	}
	out, err := c.EC2.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
	if hasCode(err, "InvalidAMIID.NotFound", "InvalidAMIID.Malformed", "InvalidAMIID.Unavailable") || (err == nil && len(out.Images) == 0) {
		return cmdutil.Usagef(fix, "AMI %s does not exist in %s (or is not shared with this account)", id, c.Config.Region)
	}
	if err != nil {
		return fmt.Errorf("checking AMI %s: %w", id, err)
	}
	if st := out.Images[0].State; st != "" && st != "available" {
		return cmdutil.Usagef(fix, "AMI %s is %s, not available", id, st)
	}
	return nil
}
