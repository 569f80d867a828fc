package e2e

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/rogpeppe/go-internal/testscript"
)

func init() { checks["make-stray-vpc"] = makeStrayVPC }

// aws make-stray-vpc: what a retried CreateVpc whose first answer was lost
// leaves behind: a second tagged VPC with a subnet of its own.
func makeStrayVPC(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	tags := []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeVpc, Tags: []ec2types.Tag{
		{Key: aws.String("wtt:app"), Value: aws.String(c.app)}, {Key: aws.String("wtt:role"), Value: aws.String("vpc")}}}}
	v, err := c.ec2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.40.0.0/16"), TagSpecifications: tags})
	if err != nil {
		return err
	}
	_, err = c.ec2.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: v.Vpc.VpcId, CidrBlock: aws.String("10.40.0.0/24"),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSubnet, Tags: []ec2types.Tag{
			{Key: aws.String("wtt:app"), Value: aws.String(c.app)}}}}})
	return err
}
