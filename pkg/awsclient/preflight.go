package awsclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/ssocreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

// Preflight is the first thing a command that talks to AWS does, before it
// observes or plans anything: it resolves the credentials locally (no AWS
// call) and asks STS who they belong to (the call discovery needs anyway,
// so it costs nothing extra: the answer is kept in c.Identity). Whatever
// goes wrong comes back as one line saying what is wrong, where wtt looked,
// and the command that fixes it, instead of the same SDK error once per
// describe call after every retry.
func Preflight(ctx context.Context, c *Clients, o Options) error {
	if err := CheckCredentials(ctx, c, o); err != nil {
		return err
	}
	// A dial that fails is not worth the full retry budget here: the
	// endpoint is down or the region does not exist, and ten backed-off
	// attempts would only delay saying so. Throttling and 5xx keep it.
	ctx, cancel := context.WithTimeout(ctx, preflightTimeout)
	defer cancel()
	id, err := c.STS.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}, func(so *sts.Options) {
		so.Retryer = FailFast(so.Retryer)
	})
	if err != nil {
		if perr := Unreachable(err, c, o, "sts"); perr != nil {
			return perr
		}
		return fmt.Errorf("checking AWS credentials (sts:GetCallerIdentity): %w", err)
	}
	c.Identity = id
	return nil
}

// CheckCredentials is the half of the preflight that makes no call: the
// credentials resolve. A mutating command checks the other half (AWS
// answers and accepts them) with its first request, the lease read, instead
// of an extra sts:GetCallerIdentity: see Unreachable.
func CheckCredentials(ctx context.Context, c *Clients, o Options) error {
	if _, err := c.Config.Credentials.Retrieve(ctx); err != nil {
		return credentialsError(err, o)
	}
	return nil
}

// FailFast wraps a client's retryer for a preflight request: a dial that
// fails or a host that does not resolve is said at once, not after the
// whole retry budget.
func FailFast(r aws.Retryer) aws.Retryer {
	if r2, ok := r.(aws.RetryerV2); ok {
		return noRetryUnreachable{r2}
	}
	return r
}

// PreflightTimeout bounds a preflight request (see FailFast).
func PreflightTimeout() time.Duration { return preflightTimeout }

// preflightTimeout bounds the wait for an endpoint that accepts the
// connection but never answers.
var preflightTimeout = 20 * time.Second

// PreflightError is a failure to reach AWS at all. It is one line by
// design; the command's exit code is 1 (not bad input: nothing about the
// invocation itself is wrong).
type PreflightError struct{ Msg string }

func (e *PreflightError) Error() string { return e.Msg }

func preflightf(format string, args ...any) error {
	return &PreflightError{Msg: fmt.Sprintf(format, args...)}
}

// where says which profile the shared config was read for.
func profileName(o Options) string {
	switch {
	case o.Profile != "":
		return o.Profile
	case os.Getenv("AWS_PROFILE") != "":
		return os.Getenv("AWS_PROFILE")
	}
	return "default"
}

func loginHint(o Options) string {
	if p := profileName(o); p != "default" {
		return "aws sso login --profile " + p
	}
	return "aws sso login"
}

func credentialsError(err error, o Options) error {
	profile := profileName(o)
	msg := err.Error()
	var sso *ssocreds.InvalidTokenError
	if errors.As(err, &sso) || strings.Contains(msg, "SSO token") || strings.Contains(msg, "SSO session") {
		return preflightf("the AWS SSO session of profile %q has expired or was never started; run `%s` and try again", profile, loginHint(o))
	}
	if strings.Contains(msg, "IMDS") || strings.Contains(msg, "no EC2 instance role") {
		// The chain ends at the instance role: nothing earlier had any.
		return preflightf("no AWS credentials found: wtt looked in the environment (AWS_ACCESS_KEY_ID, AWS_PROFILE), the shared config and credentials files for profile %q (%s, %s), SSO, and the EC2 instance role; run `aws configure` (or `aws sso login --profile NAME`, then pass --profile NAME)",
			profile, configFile(), credentialsFile())
	}
	return preflightf("cannot get AWS credentials for profile %q: %s; check that profile in %s (`aws configure list --profile %s` shows what it resolves to)",
		profile, firstLine(msg), configFile(), profile)
}

func configFile() string {
	if f := os.Getenv("AWS_CONFIG_FILE"); f != "" {
		return f
	}
	return "~/.aws/config"
}

func credentialsFile() string {
	if f := os.Getenv("AWS_SHARED_CREDENTIALS_FILE"); f != "" {
		return f
	}
	return "~/.aws/credentials"
}

// Unreachable explains a preflight request to service (its endpoint
// prefix: "sts", "ssm") that failed because AWS could not be reached or
// refused the credentials: the endpoint did not answer, its host does not
// exist (on AWS: the region does not), or the credentials are bad or
// expired. It returns nil for any other error, which is the request's own
// answer for its caller to judge.
func Unreachable(err error, c *Clients, o Options, service string) error {
	region := c.Config.Region
	endpoint, from := endpointOf(c, o, service)
	var dns *net.DNSError
	if errors.As(err, &dns) {
		if from == "" && !slices.Contains(knownRegions, region) {
			return preflightf("region %q (from %s) is not one wtt knows and AWS has no endpoint %s; pass --region with a region from `aws ec2 describe-regions --query 'Regions[].RegionName'`, e.g. us-east-1",
				region, regionSource(o), dns.Name)
		}
		if from == "" {
			return preflightf("cannot resolve the AWS endpoint %s (%v); check your network, DNS or proxy (HTTPS_PROXY), then try again", dns.Name, dns.Err)
		}
		return preflightf("the AWS endpoint %s (from %s) does not resolve: host %s not found; fix the URL or unset it", endpoint, from, dns.Name)
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" || errors.Is(err, context.DeadlineExceeded) {
		why := "refused the connection"
		if !errors.As(err, &op) || op.Timeout() || errors.Is(err, context.DeadlineExceeded) {
			why = fmt.Sprintf("did not answer within %s", preflightTimeout)
		}
		if from != "" {
			return preflightf("the AWS endpoint %s (from %s) %s; start it (`make emulator` for the local one) or unset %s to use AWS", endpoint, from, why, from)
		}
		return preflightf("AWS %s in %s (%s) %s; check your network or proxy (HTTPS_PROXY), then try again", strings.ToUpper(service), region, endpoint, why)
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "InvalidClientTokenId", "SignatureDoesNotMatch", "UnrecognizedClientException", "AuthFailure":
			return preflightf("AWS rejected the credentials from %s (%s); run `aws configure` or fix them, then try again", credsSource(c), ae.ErrorCode())
		case "ExpiredToken", "ExpiredTokenException", "RequestExpired":
			return preflightf("the AWS credentials from %s have expired (%s); get fresh ones (`%s`, or a new session token) and try again", credsSource(c), ae.ErrorCode(), loginHint(o))
		}
	}
	return nil
}

// endpointOf returns the endpoint calls go to and, when the user chose it,
// where they said so.
func endpointOf(c *Clients, o Options, service string) (endpoint, from string) {
	serviceVar := "AWS_ENDPOINT_URL_" + strings.ToUpper(service)
	switch {
	case o.EndpointURL != "":
		return o.EndpointURL, "--endpoint-url"
	case os.Getenv(serviceVar) != "":
		return os.Getenv(serviceVar), serviceVar
	case os.Getenv("AWS_ENDPOINT_URL") != "":
		return os.Getenv("AWS_ENDPOINT_URL"), "AWS_ENDPOINT_URL"
	case c.Config.BaseEndpoint != nil:
		return *c.Config.BaseEndpoint, "endpoint_url in profile " + strconvQuote(profileName(o))
	}
	return "https://" + service + "." + c.Config.Region + ".amazonaws.com", ""
}

func strconvQuote(s string) string { return fmt.Sprintf("%q", s) }

func regionSource(o Options) string {
	switch {
	case o.Region != "":
		return "--region"
	case os.Getenv("AWS_REGION") != "":
		return "AWS_REGION"
	case os.Getenv("AWS_DEFAULT_REGION") != "":
		return "AWS_DEFAULT_REGION"
	}
	return "the region of profile " + strconvQuote(profileName(o))
}

func credsSource(c *Clients) string {
	creds, err := c.Config.Credentials.Retrieve(context.Background())
	if err != nil || creds.Source == "" {
		return "the default chain"
	}
	switch src := creds.Source; {
	case src == "EnvConfigCredentials":
		return "the environment (AWS_ACCESS_KEY_ID)"
	case strings.HasPrefix(src, "SharedConfigCredentials: "):
		return strings.TrimPrefix(src, "SharedConfigCredentials: ")
	default:
		return src
	}
}

// knownRegions are the regions of every AWS partition as the SDK knew them
// when wtt was built. A region outside the list still works if AWS has it;
// the list only decides, when a host does not resolve, whether to blame the
// region name or the network.
var knownRegions = []string{
	"af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
	"ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4",
	"ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "ca-central-1", "ca-west-1",
	"eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3",
	"il-central-1", "me-central-1", "me-south-1", "me-west-1", "mx-central-1", "sa-east-1", "sa-west-1",
	"us-east-1", "us-east-2", "us-west-1", "us-west-2",
	"cn-north-1", "cn-northwest-1", "eusc-de-east-1", "us-gov-east-1", "us-gov-west-1",
	"us-iso-east-1", "us-iso-west-1", "us-isob-east-1", "us-isob-west-1", "eu-isoe-west-1", "us-isof-east-1", "us-isof-south-1",
}

// noRetryUnreachable keeps the standard retryer but gives up at once when
// the endpoint cannot be dialled or its host does not resolve.
type noRetryUnreachable struct{ aws.RetryerV2 }

func (r noRetryUnreachable) IsErrorRetryable(err error) bool {
	var dns *net.DNSError
	var op *net.OpError
	if errors.As(err, &dns) || (errors.As(err, &op) && op.Op == "dial") {
		return false
	}
	var ue *url.Error
	if errors.As(err, &ue) && ue.Timeout() {
		return false
	}
	return r.RetryerV2.IsErrorRetryable(err)
}
