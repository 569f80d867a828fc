package ladder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/whatsthetime/wtt/pkg/names"
	"github.com/whatsthetime/wtt/pkg/observe"
)

// groupRole is the wtt:role of the instances the Auto Scaling group launches.
const groupRole = "asg"

// templateCalls are the calls ensureLaunchTemplate can make, the delivery
// (bucket, binary, role) included because the user data points at it.
var templateCalls = append(append([]string{}, deliveryCalls...),
	"ec2:DescribeInstanceTypes", "ec2:DescribeInstanceTypeOfferings", "ssm:GetParameter",
	"ec2:DescribeLaunchTemplates", "ec2:DescribeLaunchTemplateVersions",
	"ec2:CreateLaunchTemplate", "ec2:CreateLaunchTemplateVersion", "ec2:CreateTags", "iam:PassRole",
)

// templateData is everything the group's instances launch with. It is the
// same launch as the standalone private instances of the alb rung, so the
// move to the group changes who owns the instances, not what they are.
func (e *Env) templateData(ctx context.Context, typ string) (*ec2types.RequestLaunchTemplateData, error) {
	priv := e.State.Network.PrivateSG
	if priv == nil {
		return nil, fmt.Errorf("security group %s is missing; run `wtt migrate --to=alb` first", e.N.PrivateSG())
	}
	info, err := e.launchType(ctx, typ)
	if err != nil {
		return nil, err
	}
	script, err := e.ensureDelivery(ctx, info.Arch)
	if err != nil {
		return nil, err
	}
	ami, err := e.resolveAMI(ctx, info.Arch)
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("wtt-%s-%s", e.App, groupRole)
	return &ec2types.RequestLaunchTemplateData{
		ImageId:      aws.String(ami),
		InstanceType: ec2types.InstanceType(typ),
		UserData:     aws.String(userdataB64(script)),
		MetadataOptions: &ec2types.LaunchTemplateInstanceMetadataOptionsRequest{
			HttpTokens:              ec2types.LaunchTemplateHttpTokensStateRequired,
			HttpEndpoint:            ec2types.LaunchTemplateInstanceMetadataEndpointStateEnabled,
			HttpPutResponseHopLimit: aws.Int32(1),
		},
		IamInstanceProfile: &ec2types.LaunchTemplateIamInstanceProfileSpecificationRequest{Name: aws.String(e.N.InstanceProfile())},
		BlockDeviceMappings: []ec2types.LaunchTemplateBlockDeviceMappingRequest{{
			DeviceName: aws.String("/dev/xvda"),
			Ebs: &ec2types.LaunchTemplateEbsBlockDeviceRequest{
				Encrypted: aws.Bool(true), VolumeType: ec2types.VolumeTypeGp3, VolumeSize: aws.Int32(8), DeleteOnTermination: aws.Bool(true),
			},
		}},
		// No SubnetId: the group picks the subnet. No public address: the
		// instances answer only through the load balancer.
		NetworkInterfaces: []ec2types.LaunchTemplateInstanceNetworkInterfaceSpecificationRequest{{
			DeviceIndex: aws.Int32(0), Groups: []string{priv.ID},
			AssociatePublicIpAddress: aws.Bool(false), DeleteOnTermination: aws.Bool(true),
		}},
		TagSpecifications: []ec2types.LaunchTemplateTagSpecificationRequest{
			{ResourceType: ec2types.ResourceTypeInstance, Tags: e.tags(groupRole, name)},
			{ResourceType: ec2types.ResourceTypeVolume, Tags: e.tags(groupRole, "")},
		},
	}, nil
}

// ensureLaunchTemplate makes the app's launch template launch typ with the
// current AMI, binary and security group. It takes the template discovery
// found by its tag, or creates it (one of that name, untagged, is adopted
// when the create says it exists), and adds a version only when the latest
// one differs, so it never makes a second template and a re-run makes no
// call that changes anything. It returns the template's ID and the version
// that matches, and hands the observer the template it made or changed.
func (e *Env) ensureLaunchTemplate(ctx context.Context, typ string) (string, int64, error) {
	want, err := e.templateData(ctx, typ)
	if err != nil {
		return "", 0, err
	}
	observed := e.State.LaunchTemplate
	if observed == nil || observed.ID == "" {
		id, version, name, err := e.createLaunchTemplate(ctx, want)
		if err != nil {
			return id, version, err
		}
		if version > 0 {
			e.tookTemplate(&observe.LaunchTemplate{ID: id, Name: name, LatestVersion: version, DefaultVersion: version}, want)
			return id, version, nil
		}
		// Found by its name, made by an earlier run: as any existing one.
		id, version, err = e.ensureTemplateVersion(ctx, id, want)
		return id, version, err
	}
	id, version, err := e.ensureTemplateVersion(ctx, observed.ID, want)
	if err == nil && version > observed.LatestVersion {
		lt := *observed
		lt.LatestVersion = version
		e.tookTemplate(&lt, want)
	}
	return id, version, err
}

// tookTemplate hands the observer the template as a step made it: its
// latest version launches want.
func (e *Env) tookTemplate(lt *observe.LaunchTemplate, want *ec2types.RequestLaunchTemplateData) {
	lt.InstanceType = string(want.InstanceType)
	lt.IMDSv2Required = want.MetadataOptions != nil && want.MetadataOptions.HttpTokens == ec2types.LaunchTemplateHttpTokensStateRequired
	lt.PublicIP, lt.SecurityGroups = false, append([]string(nil), want.SecurityGroupIds...)
	for _, ni := range want.NetworkInterfaces {
		lt.PublicIP = lt.PublicIP || aws.ToBool(ni.AssociatePublicIpAddress)
		lt.SecurityGroups = append(lt.SecurityGroups, ni.Groups...)
	}
	e.took(observe.KindTemplate, func(s *observe.State) { s.LaunchTemplate = lt })
}

// createLaunchTemplate creates the template at version 1 and returns its
// ID, version and name. When an earlier run created it, it returns that
// template's ID and version 0.
func (e *Env) createLaunchTemplate(ctx context.Context, want *ec2types.RequestLaunchTemplateData) (string, int64, string, error) {
	name := e.N.LaunchTemplate()
	out, err := e.C.EC2.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String(name), LaunchTemplateData: want,
		VersionDescription: aws.String("wtt: " + string(want.InstanceType)),
		TagSpecifications:  e.tagSpec(ec2types.ResourceTypeLaunchTemplate, "launch-template", name),
		// For this run only: the same data may come again in a later run
		// (clientToken).
		ClientToken: e.clientToken("lt", dataHash(want)), DryRun: e.dryRun(),
	})
	if hasCode(err, "InvalidLaunchTemplateName.AlreadyExistsException") {
		id, ferr := e.findLaunchTemplate(ctx)
		if ferr != nil || id == "" {
			return "", 0, "", fmt.Errorf("launch template %s exists but cannot be read: %v", name, ferr)
		}
		return id, 0, name, nil
	}
	if err != nil {
		return "", 0, "", fmt.Errorf("creating launch template %s: %w", name, err)
	}
	lt := out.LaunchTemplate
	return aws.ToString(lt.LaunchTemplateId), aws.ToInt64(lt.LatestVersionNumber), aws.ToString(lt.LaunchTemplateName), nil
}

// ensureTemplateVersion adds a version from $Latest when the latest one
// launches something else than want. SourceVersion keeps settings wtt does
// not manage (added by hand in the console, say).
func (e *Env) ensureTemplateVersion(ctx context.Context, id string, want *ec2types.RequestLaunchTemplateData) (string, int64, error) {
	latest, err := e.latestTemplateVersion(ctx, id)
	if err != nil {
		return "", 0, err
	}
	if latest != nil && len(templateDrift(latest.LaunchTemplateData, want, e.App)) == 0 {
		return id, aws.ToInt64(latest.VersionNumber), nil
	}
	out, err := e.C.EC2.CreateLaunchTemplateVersion(ctx, &ec2.CreateLaunchTemplateVersionInput{
		LaunchTemplateId: aws.String(id), SourceVersion: aws.String("$Latest"),
		LaunchTemplateData: want, VersionDescription: aws.String("wtt: " + string(want.InstanceType)),
		// For this run only: a later run going back to this data must
		// get a new version, not this one (clientToken).
		ClientToken: e.clientToken("ltv", dataHash(want)), DryRun: e.dryRun(),
	})
	if err != nil {
		return "", 0, fmt.Errorf("adding a version to launch template %s: %w", e.N.LaunchTemplate(), err)
	}
	return id, aws.ToInt64(out.LaunchTemplateVersion.VersionNumber), nil
}

// findLaunchTemplate returns the app's template ID, by tag (as discovered)
// or else by name: a template created by a run killed before tagging
// finished still has its name.
func (e *Env) findLaunchTemplate(ctx context.Context) (string, error) {
	if lt := e.State.LaunchTemplate; lt != nil && lt.ID != "" {
		return lt.ID, nil
	}
	out, err := e.C.EC2.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{LaunchTemplateNames: []string{e.N.LaunchTemplate()}})
	if hasCode(err, "InvalidLaunchTemplateName.NotFoundException", "InvalidLaunchTemplateId.NotFound") {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("looking up launch template %s: %w", e.N.LaunchTemplate(), err)
	}
	if len(out.LaunchTemplates) == 0 {
		return "", nil
	}
	return aws.ToString(out.LaunchTemplates[0].LaunchTemplateId), nil
}

func (e *Env) latestTemplateVersion(ctx context.Context, id string) (*ec2types.LaunchTemplateVersion, error) {
	out, err := e.C.EC2.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{
		LaunchTemplateId: aws.String(id), Versions: []string{"$Latest"},
	})
	if err != nil {
		return nil, fmt.Errorf("reading launch template %s: %w", e.N.LaunchTemplate(), err)
	}
	if len(out.LaunchTemplateVersions) == 0 {
		return nil, nil
	}
	return &out.LaunchTemplateVersions[0], nil
}

// templateDrift lists what the template's data does differently from what
// wtt would launch; empty means no new version is needed.
func templateDrift(have *ec2types.ResponseLaunchTemplateData, want *ec2types.RequestLaunchTemplateData, app string) []string {
	if have == nil {
		return []string{"no launch data"}
	}
	var d []string
	diff := func(what string, differs bool) {
		if differs {
			d = append(d, what)
		}
	}
	diff("instance type", have.InstanceType != want.InstanceType)
	diff("AMI", aws.ToString(have.ImageId) != aws.ToString(want.ImageId))
	diff("user data", !sameUserData(aws.ToString(have.UserData), aws.ToString(want.UserData)))
	mo := have.MetadataOptions
	diff("IMDSv2", mo == nil || mo.HttpTokens != ec2types.LaunchTemplateHttpTokensStateRequired ||
		(mo.HttpPutResponseHopLimit != nil && aws.ToInt32(mo.HttpPutResponseHopLimit) != 1))
	diff("instance profile", have.IamInstanceProfile == nil || aws.ToString(have.IamInstanceProfile.Name) != aws.ToString(want.IamInstanceProfile.Name))
	diff("network interface", !sameInterface(have.NetworkInterfaces, want.NetworkInterfaces[0]))
	diff("root volume", !encryptedGP3Root(have.BlockDeviceMappings))
	diff("instance tags", !tagsInstances(have.TagSpecifications, app))
	return d
}

// sameUserData compares user data as AWS returns it (base64) and as the
// emulator may (decoded).
func sameUserData(have, want string) bool {
	if have == want {
		return true
	}
	return userdataB64(have) == want
}

func sameInterface(have []ec2types.LaunchTemplateInstanceNetworkInterfaceSpecification, want ec2types.LaunchTemplateInstanceNetworkInterfaceSpecificationRequest) bool {
	for _, ni := range have {
		if aws.ToInt32(ni.DeviceIndex) != 0 {
			continue
		}
		return ni.AssociatePublicIpAddress != nil && !aws.ToBool(ni.AssociatePublicIpAddress) &&
			slices.Equal(sorted(ni.Groups), sorted(want.Groups))
	}
	return false
}

func encryptedGP3Root(bdms []ec2types.LaunchTemplateBlockDeviceMapping) bool {
	for _, b := range bdms {
		if aws.ToString(b.DeviceName) == "/dev/xvda" && b.Ebs != nil {
			return aws.ToBool(b.Ebs.Encrypted) && b.Ebs.VolumeType == ec2types.VolumeTypeGp3
		}
	}
	return false
}

// tagsInstances reports whether the template tags its instances with the
// app: discovery and `down` find them by that tag.
func tagsInstances(specs []ec2types.LaunchTemplateTagSpecification, app string) bool {
	for _, s := range specs {
		if s.ResourceType != ec2types.ResourceTypeInstance {
			continue
		}
		for _, t := range s.Tags {
			if aws.ToString(t.Key) == names.TagApp && aws.ToString(t.Value) == app {
				return true
			}
		}
	}
	return false
}

func sorted(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// dataHash keys client tokens to the launch data: a retried call with the
// same data is one call to AWS, different data is a new request.
func dataHash(d *ec2types.RequestLaunchTemplateData) string {
	b, _ := json.Marshal(d)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:16]
}
