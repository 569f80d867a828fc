package ladder

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/whatsthetime/wtt/pkg/cmdutil"
	"github.com/whatsthetime/wtt/pkg/filehash"
	"github.com/whatsthetime/wtt/pkg/names"
	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/plan"
	"github.com/whatsthetime/wtt/pkg/userdata"
)

// ServerBinaryName is the file name of the linux time server for an
// architecture, as `make build` and the release archives lay it out next to
// the wtt executable.
func ServerBinaryName(arch string) string { return "whatsthetime-linux-" + arch }

// ResolveServerBinary finds the time server binary to deliver: the path the
// user gave, else the file beside the wtt executable.
func ResolveServerBinary(given, arch string) (string, error) {
	if given != "" {
		if _, err := os.Stat(given); err != nil {
			return "", cmdutil.Usagef("pass the path of a linux/"+arch+" build of the time server (make build writes bin/"+ServerBinaryName(arch)+")",
				"--server-binary %s: %v", given, err)
		}
		return given, nil
	}
	dir := exeDir()
	p := filepath.Join(dir, ServerBinaryName(arch))
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	return "", cmdutil.Usagef(BuildServerHint(dir, arch), "the time server binary for linux/%s was not found next to wtt", arch)
}

// CheckServerBinaries finds, before anything changes, the time server
// builds a plan will deliver: a wtt made by `go build` or `go install` has
// none beside it, and without this check `up` would create the network and
// the security group before failing at the instance. It costs no AWS call
// when both builds are there (make build, the release archives) or the plan
// launches nothing; otherwise one DescribeInstanceTypes tells which
// architectures the plan's instance types need.
func (e *Env) CheckServerBinaries(ctx context.Context, p *plan.Plan) error {
	if e.Opts.ServerBinary != "" || !delivers(p) {
		return nil // --server-binary is checked with the other flags
	}
	dir := exeDir()
	var missing []string
	for _, arch := range []string{"amd64", "arm64"} {
		if _, err := os.Stat(filepath.Join(dir, ServerBinaryName(arch))); err != nil {
			missing = append(missing, arch)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	types := launchTypes(p, e.State)
	if !slices.Contains(missing, "amd64") && !slices.ContainsFunc(types, mayBeArm) {
		return nil // the amd64 build is there, and nothing here looks like Graviton
	}
	need, err := e.archsOf(ctx, types)
	if err != nil {
		return err
	}
	for _, arch := range need {
		if slices.Contains(missing, arch) {
			return cmdutil.Usagef(BuildServerHint(dir, arch),
				"the time server for linux/%s is not beside wtt (no %s), and this plan launches %s instances that run it",
				arch, filepath.Join(dir, ServerBinaryName(arch)), strings.Join(types, ", "))
		}
	}
	return nil
}

// BuildServerHint is the command that puts the missing build where wtt
// looks, for the way this wtt was built.
func BuildServerHint(dir, arch string) string {
	out := filepath.Join(dir, ServerBinaryName(arch))
	build := fmt.Sprintf("CGO_ENABLED=0 GOOS=linux GOARCH=%s go build -o %s ./timeserver", arch, out)
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		// go install github.com/whatsthetime/wtt/cmd/wtt@VERSION: the source
		// of that version is in the module cache.
		return fmt.Sprintf("run `cd \"$(go env GOMODCACHE)/%s@%s\" && %s`, or use the release archive (it carries both linux builds), or pass --server-binary PATH",
			bi.Main.Path, bi.Main.Version, build)
	}
	return fmt.Sprintf("in the wtt source folder run `%s` (or `make build` and use bin/wtt), or pass --server-binary PATH", build)
}

func exeDir() string {
	exe, err := os.Executable()
	if err != nil {
		return "."
	}
	if real, err := filepath.EvalSymlinks(exe); err == nil {
		exe = real
	}
	return filepath.Dir(exe)
}

// delivers reports whether running p uploads the time server (every step
// that launches instances or writes a launch template does).
func delivers(p *plan.Plan) bool {
	for _, s := range p.Steps {
		if slices.Contains(s.Calls, "s3:PutObject") {
			return true
		}
	}
	return false
}

// typeInText finds instance types in a step's description ("instance
// t2.micro (public, ...)", "2 private instance(s) m5.large ...").
var typeInText = regexp.MustCompile(`\b[a-z][a-z0-9-]*\.(nano|micro|small|medium|large|[0-9]*xlarge|metal[a-z0-9-]*)\b`)

// launchTypes are the instance types the delivering steps launch, as their
// descriptions name them; failing that, the fleet's, else the default.
func launchTypes(p *plan.Plan, s *observe.State) []string {
	var types []string
	add := func(t string) {
		if t != "" && t != unknown && !slices.Contains(types, t) {
			types = append(types, t)
		}
	}
	for _, st := range p.Steps {
		if slices.Contains(st.Calls, "s3:PutObject") {
			for _, t := range typeInText.FindAllString(st.Resource, -1) {
				add(t)
			}
		}
	}
	if len(types) == 0 && s != nil {
		for _, i := range s.LiveInstances() {
			add(i.Type)
		}
		if s.LaunchTemplate != nil {
			add(s.LaunchTemplate.InstanceType)
		}
	}
	if len(types) == 0 {
		add(DefaultInstanceType)
	}
	return types
}

// gravitonFamily matches the families that may run on arm64: a1, and those
// with a "g" after the generation (t4g, m6gd, c7gn, im4gn, hpc7g). It only
// decides whether to ask EC2; EC2's answer decides what is needed.
var gravitonFamily = regexp.MustCompile(`^(a1|[a-z]+[0-9]+[a-z]*g[a-z]*)\.`)

func mayBeArm(typ string) bool { return gravitonFamily.MatchString(typ) }

// archsOf asks EC2 which architectures types run on; a type EC2 does not
// know is left to the instance type checks, which say so properly.
func (e *Env) archsOf(ctx context.Context, types []string) ([]string, error) {
	in := &ec2.DescribeInstanceTypesInput{}
	for _, t := range types {
		in.InstanceTypes = append(in.InstanceTypes, ec2types.InstanceType(t))
	}
	out, err := e.C.EC2.DescribeInstanceTypes(ctx, in)
	if err != nil {
		if hasCode(err, "InvalidInstanceType") {
			return []string{"amd64"}, nil
		}
		return nil, fmt.Errorf("checking instance types %s: %w", strings.Join(types, ", "), err)
	}
	var archs []string
	for _, it := range out.InstanceTypes {
		arch := "amd64"
		if pi := it.ProcessorInfo; pi != nil && !slices.Contains(pi.SupportedArchitectures, ec2types.ArchitectureTypeX8664) {
			arch = "arm64"
		}
		if !slices.Contains(archs, arch) {
			archs = append(archs, arch)
		}
	}
	if len(archs) == 0 {
		archs = []string{"amd64"}
	}
	return archs, nil
}

// artifact is the delivered binary: where it is and what it hashes to.
type artifact struct {
	path, key, sha string
}

// readArtifact names the binary by its SHA-256, remembered across runs
// while the file keeps its size and time (pkg/filehash): every launching
// command needs the name, and hashing 12 MB each time was a tenth of such
// a command's CPU.
func readArtifact(path, arch string) (artifact, error) {
	sum, err := filehash.Default().SHA256(path)
	if err != nil {
		return artifact{}, err
	}
	// Content-addressed, so re-running uploads nothing and instances of
	// different versions can coexist during a rolling replacement.
	return artifact{path: path, sha: sum, key: fmt.Sprintf("timeserver/%s/%s", sum[:16], ServerBinaryName(arch))}, nil
}

var deliveryCalls = []string{
	"s3:CreateBucket", "s3:PutBucketTagging", "s3:PutPublicAccessBlock", "s3:HeadObject", "s3:PutObject",
	"iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:CreateInstanceProfile", "iam:GetInstanceProfile", "iam:AddRoleToInstanceProfile",
}

// ensureDelivery makes the bucket, uploads the binary, and makes the
// instance role that may read it; it returns the boot script.
func (e *Env) ensureDelivery(ctx context.Context, arch string) (string, error) {
	path, err := ResolveServerBinary(e.Opts.ServerBinary, arch)
	if err != nil {
		return "", err
	}
	art, err := readArtifact(path, arch)
	if err != nil {
		return "", err
	}
	s := e.State
	bucket := e.N.Bucket(s.Account, s.Region)
	newBucket := false // created by this call: it holds nothing yet
	if s.Bucket == "" {
		in := &s3.CreateBucketInput{Bucket: aws.String(bucket)}
		if s.Region != "us-east-1" {
			in.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(s.Region)}
		}
		_, err := e.C.S3.CreateBucket(ctx, in)
		if err != nil && !hasCode(err, "BucketAlreadyOwnedByYou") {
			return "", fmt.Errorf("creating bucket %s: %w", bucket, err)
		}
		newBucket = err == nil
		if _, err := e.C.S3.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{
			Bucket: aws.String(bucket),
			PublicAccessBlockConfiguration: &s3types.PublicAccessBlockConfiguration{
				BlockPublicAcls: aws.Bool(true), BlockPublicPolicy: aws.Bool(true),
				IgnorePublicAcls: aws.Bool(true), RestrictPublicBuckets: aws.Bool(true),
			},
		}); err != nil {
			return "", fmt.Errorf("blocking public access to %s: %w", bucket, err)
		}
		if _, err := e.C.S3.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{
			Bucket: aws.String(bucket),
			Tagging: &s3types.Tagging{TagSet: []s3types.Tag{
				{Key: aws.String(names.TagApp), Value: aws.String(e.App)},
				{Key: aws.String(names.TagManagedBy), Value: aws.String(names.ManagedBy)},
			}},
		}); err != nil {
			return "", fmt.Errorf("tagging bucket %s: %w", bucket, err)
		}
		s.Bucket = bucket
	}
	if newBucket || !e.hasObject(ctx, bucket, art.key) {
		if err := e.upload(ctx, bucket, art); err != nil {
			return "", err
		}
	}
	if err := e.ensureInstanceRole(ctx, bucket); err != nil {
		return "", err
	}
	// Bucket, role and profile are there, the role in the profile: what
	// discovery would read now.
	role, profile := e.N.Role(), e.N.InstanceProfile()
	e.took(observe.KindDelivery, func(s *observe.State) {
		s.Bucket, s.Role, s.InstanceProfile, s.RoleInProfile = bucket, role, profile, true
	})
	return userdata.Render(userdata.Params{App: e.App, Region: s.Region, Bucket: bucket, Key: art.key, SHA256: art.sha})
}

// upload puts the binary in the bucket with its SHA-256, which wtt already
// knows (it names the object): S3 refuses an upload that does not match it
// (the boot script checks it again), and the SDK need not read the 12 MB
// twice more before sending them, once for a checksum and once to sign the
// payload, which was a sixth of `wtt up`'s CPU.
func (e *Env) upload(ctx context.Context, bucket string, art artifact) error {
	sum, err := hex.DecodeString(art.sha)
	if err != nil || len(sum) != sha256.Size {
		return fmt.Errorf("the time server's SHA-256 %q is not one", art.sha)
	}
	f, err := os.Open(art.path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := e.C.S3.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(art.key), Body: f,
		ServerSideEncryption: s3types.ServerSideEncryptionAes256,
		ChecksumAlgorithm:    s3types.ChecksumAlgorithmSha256,
		ChecksumSHA256:       aws.String(base64.StdEncoding.EncodeToString(sum)),
	}, withPayloadSHA256(art.sha)); err != nil {
		return fmt.Errorf("uploading the time server to s3://%s/%s: %w", bucket, art.key, err)
	}
	return nil
}

// withPayloadSHA256 signs a request with a payload hash known beforehand,
// so the SDK does not read the body to compute it (it does whenever the
// endpoint is plain HTTP, an emulator's).
func withPayloadSHA256(hexSum string) func(*s3.Options) {
	return func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("wttKnownPayloadSHA256",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					return next.HandleInitialize(v4.SetPayloadHash(ctx, hexSum), in)
				}), middleware.After)
		})
	}
}

// hasObject reports whether the bucket holds key. The key is the binary's
// hash, so an object there is this very build.
func (e *Env) hasObject(ctx context.Context, bucket, key string) bool {
	_, err := e.C.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	return err == nil
}

func (e *Env) iamTags() []iamtypes.Tag {
	return []iamtypes.Tag{
		{Key: aws.String(names.TagApp), Value: aws.String(e.App)},
		{Key: aws.String(names.TagManagedBy), Value: aws.String(names.ManagedBy)},
	}
}

// ssmManagedPolicy gives Session Manager access, the documented way in:
// instances have no SSH open anywhere.
const ssmManagedPolicy = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"

func (e *Env) ensureInstanceRole(ctx context.Context, bucket string) error {
	role, profile := e.N.Role(), e.N.InstanceProfile()
	if e.State.RoleInProfile {
		// Observed in the profile: the role was added there last, after
		// its policies, so nothing below is missing.
		return nil
	}
	if e.State.Role == "" {
		trust, _ := json.Marshal(map[string]any{
			"Version": "2012-10-17",
			"Statement": []map[string]any{{
				"Effect": "Allow", "Principal": map[string]string{"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole",
			}},
		})
		if _, err := e.C.IAM.CreateRole(ctx, &iam.CreateRoleInput{
			RoleName: aws.String(role), AssumeRolePolicyDocument: aws.String(string(trust)),
			Description: aws.String("wtt " + e.App + ": time server instances read their binary from S3"),
			Tags:        e.iamTags(),
		}); err != nil && !hasCode(err, "EntityAlreadyExists") {
			return fmt.Errorf("creating role %s: %w", role, err)
		}
		e.State.Role = role
	}
	// Put and Attach are idempotent, so they run every time: a run killed
	// between CreateRole and here still ends with the full role.
	read, _ := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{{
			"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::" + bucket + "/timeserver/*",
		}},
	})
	if _, err := e.C.IAM.PutRolePolicy(ctx, &iam.PutRolePolicyInput{
		RoleName: aws.String(role), PolicyName: aws.String("read-time-server"), PolicyDocument: aws.String(string(read)),
	}); err != nil {
		return fmt.Errorf("granting %s read access to the bucket: %w", role, err)
	}
	if _, err := e.C.IAM.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{
		RoleName: aws.String(role), PolicyArn: aws.String(ssmManagedPolicy),
	}); err != nil {
		return fmt.Errorf("attaching the Session Manager policy to %s: %w", role, err)
	}
	newProfile := false // created by this call: it holds no role yet
	if e.State.InstanceProfile == "" {
		_, err := e.C.IAM.CreateInstanceProfile(ctx, &iam.CreateInstanceProfileInput{
			InstanceProfileName: aws.String(profile), Tags: e.iamTags(),
		})
		if err != nil && !hasCode(err, "EntityAlreadyExists") {
			return fmt.Errorf("creating instance profile %s: %w", profile, err)
		}
		newProfile = err == nil
		e.State.InstanceProfile = profile
	}
	if !newProfile {
		ip, err := e.C.IAM.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(profile)})
		if err != nil {
			return fmt.Errorf("reading instance profile %s: %w", profile, err)
		}
		for _, r := range ip.InstanceProfile.Roles {
			if strings.EqualFold(aws.ToString(r.RoleName), role) {
				return nil
			}
		}
	}
	if _, err := e.C.IAM.AddRoleToInstanceProfile(ctx, &iam.AddRoleToInstanceProfileInput{
		InstanceProfileName: aws.String(profile), RoleName: aws.String(role),
	}); err != nil && !hasCode(err, "LimitExceeded") {
		return fmt.Errorf("adding role %s to instance profile %s: %w", role, profile, err)
	}
	return nil
}
