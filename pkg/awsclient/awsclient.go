// Package awsclient builds the AWS SDK clients wtt uses, all sharing one
// configuration and one middleware seam: the place where calls are counted,
// traced with --debug, and (in tests) made to fail.
package awsclient

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/servicequotas"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/logging"
	"github.com/aws/smithy-go/middleware"

	"github.com/whatsthetime/wtt/pkg/sdkhttp"
)

// Options are the knobs the global flags set.
type Options struct {
	Region      string
	Profile     string
	EndpointURL string
	// MaxAttempts is the retry budget per call. The SDK's default of 3 gives
	// up too soon on a throttled account; see DefaultMaxAttempts.
	MaxAttempts int
	// MaxBackoff caps the delay between attempts.
	MaxBackoff time.Duration
	Debug      io.Writer // nil: no tracing
	Recorder   *Recorder // nil: a fresh one is made
	Faults     *Faults   // nil: no fault injection

	facts *facts // answers that cannot change during the command (facts.go)
}

// DefaultMaxAttempts survives a throttled account: at a 15% failure rate the
// chance that one call fails 10 times in a row is 0.15^10, about 6e-9.
const DefaultMaxAttempts = 10

// Clients is every AWS API wtt talks to.
type Clients struct {
	Config   aws.Config
	Recorder *Recorder

	EC2         *ec2.Client
	ELB         *elbv2.Client
	AutoScaling *autoscaling.Client
	Route53     *route53.Client
	SSM         *ssm.Client
	IAM         *iam.Client
	S3          *s3.Client
	STS         *sts.Client
	Quotas      *servicequotas.Client

	// Identity is who the credentials belong to, as Preflight found; nil
	// until it has run.
	Identity *sts.GetCallerIdentityOutput
}

// Load resolves credentials, region and endpoint the way the AWS CLI does
// (flags over environment over shared config) and builds the clients.
func Load(ctx context.Context, o Options) (*Clients, error) {
	if o.Recorder == nil {
		o.Recorder = NewRecorder()
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 20 * time.Second
	}
	// Hidden knobs for the test suites: a short backoff keeps fault-injection
	// runs quick, and a fault rate exercises the retry path of the real binary.
	if v, err := time.ParseDuration(os.Getenv("WTT_MAX_BACKOFF")); err == nil && v > 0 {
		o.MaxBackoff = v
	}
	if o.Faults == nil {
		o.Faults = FaultsFromEnv()
	}
	o.facts = newFacts()

	loaders := []func(*config.LoadOptions) error{
		// AWS_CA_BUNDLE makes the SDK refuse a plain *http.Client; the
		// buildable client accepts the extra roots.
		config.WithHTTPClient(awshttp.NewBuildableClient()),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts = o.MaxAttempts
				so.MaxBackoff = o.MaxBackoff
				// The client-side token bucket would stop retrying exactly
				// when an account is throttled hardest; backoff is enough.
				so.RateLimiter = ratelimit.None
			})
		}),
		// The SDK's own log lines (such as IMDS's "falling back to IMDSv1")
		// would reach the user's stderr; Preflight says what matters.
		config.WithLogger(logging.Nop{}),
		config.WithAPIOptions([]func(*middleware.Stack) error{
			func(s *middleware.Stack) error { return addMiddleware(s, o) },
		}),
	}
	if o.Region != "" {
		loaders = append(loaders, config.WithRegion(o.Region))
	}
	if o.Profile != "" {
		loaders = append(loaders, config.WithSharedConfigProfile(o.Profile))
	}
	if o.EndpointURL != "" {
		loaders = append(loaders, config.WithBaseEndpoint(o.EndpointURL))
	}
	restore := hideUnusedCABundle(o.EndpointURL)
	cfg, err := config.LoadDefaultConfig(ctx, loaders...)
	restore()
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, fmt.Errorf("no AWS region set: pass --region, set AWS_REGION, or set region in your AWS profile")
	}
	custom := cfg.BaseEndpoint != nil
	return &Clients{
		Config:   cfg,
		Recorder: o.Recorder,
		// Each service's HTTP client is wrapped (sdkhttp) once the SDK has
		// tuned it for the defaults mode, which it does to its own
		// buildable client only: a request body the SDK closes while the
		// transport still writes it must not close the connection its
		// answer is read from (a 200 read as an error, a create retried).
		EC2:         ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.HTTPClient = sdkhttp.Wrap(o.HTTPClient) }),
		ELB:         elbv2.NewFromConfig(cfg, func(o *elbv2.Options) { o.HTTPClient = sdkhttp.Wrap(o.HTTPClient) }),
		AutoScaling: autoscaling.NewFromConfig(cfg, func(o *autoscaling.Options) { o.HTTPClient = sdkhttp.Wrap(o.HTTPClient) }),
		Route53:     route53.NewFromConfig(cfg, func(o *route53.Options) { o.HTTPClient = sdkhttp.Wrap(o.HTTPClient) }),
		SSM:         ssm.NewFromConfig(cfg, func(o *ssm.Options) { o.HTTPClient = sdkhttp.Wrap(o.HTTPClient) }),
		IAM:         iam.NewFromConfig(cfg, func(o *iam.Options) { o.HTTPClient = sdkhttp.Wrap(o.HTTPClient) }),
		S3: s3.NewFromConfig(cfg, func(so *s3.Options) {
			// Emulators serve buckets by path, not by virtual host.
			so.UsePathStyle = custom
			so.HTTPClient = sdkhttp.Wrap(so.HTTPClient)
		}),
		STS:    sts.NewFromConfig(cfg, func(o *sts.Options) { o.HTTPClient = sdkhttp.Wrap(o.HTTPClient) }),
		Quotas: servicequotas.NewFromConfig(cfg, func(o *servicequotas.Options) { o.HTTPClient = sdkhttp.Wrap(o.HTTPClient) }),
	}, nil
}

// CustomEndpoint reports whether calls go somewhere other than AWS itself.
func (c *Clients) CustomEndpoint() bool { return c.Config.BaseEndpoint != nil }

func envFloat(name string) float64 {
	v, err := strconv.ParseFloat(os.Getenv(name), 64)
	if err != nil {
		return 0
	}
	return v
}
