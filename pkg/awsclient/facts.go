package awsclient

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
)

// factActions answer the same for the same question for the length of a
// command: what an instance type is and where it is offered, the zones,
// an AMI, a quota, the reservations on offer. The first answer to each
// question is kept and given again, without a request, to every later
// asker in the same process (a precheck and the step after it ask the
// same). Everything that describes the app's own resources is read from
// AWS every time.
var factActions = map[string]bool{
	"ec2:DescribeInstanceTypes":              true,
	"ec2:DescribeInstanceTypeOfferings":      true,
	"ec2:DescribeAvailabilityZones":          true,
	"ec2:DescribeImages":                     true,
	"ec2:DescribeReservedInstancesOfferings": true,
	"servicequotas:GetServiceQuota":          true,
	"ssm:GetParameter":                       true, // only AWS's public parameters, see isFact
}

// facts holds the answers to fact questions, by action and input.
type facts struct {
	mu      sync.Mutex
	answers map[string]any
}

func newFacts() *facts { return &facts{answers: map[string]any{}} }

// isFact says whether this call asks a fact: SSM's own parameters (the
// lease, a purchase intent) change, AWS's public ones (/aws/service/...)
// do not while a command runs.
func isFact(action string, params any) bool {
	if !factActions[action] {
		return false
	}
	if in, ok := params.(*ssm.GetParameterInput); ok {
		return in.Name != nil && strings.HasPrefix(*in.Name, "/aws/service/")
	}
	return action != "ssm:GetParameter"
}

// addFacts answers a fact asked before from memory. It runs before the
// counter, so an answer from memory is no request and is not counted.
func addFacts(s *middleware.Stack, f *facts) error {
	if f == nil {
		return nil
	}
	return s.Initialize.Add(middleware.InitializeMiddlewareFunc("wttFacts",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			action := Action(awsmiddleware.GetServiceID(ctx), awsmiddleware.GetOperationName(ctx))
			if !isFact(action, in.Parameters) {
				return next.HandleInitialize(ctx, in)
			}
			q, err := json.Marshal(in.Parameters)
			if err != nil {
				return next.HandleInitialize(ctx, in)
			}
			key := action + " " + string(q)
			f.mu.Lock()
			a, ok := f.answers[key]
			f.mu.Unlock()
			if ok {
				if e, isErr := a.(answeredError); isErr {
					return middleware.InitializeOutput{}, middleware.Metadata{}, e.err
				}
				return middleware.InitializeOutput{Result: a}, middleware.Metadata{}, nil
			}
			out, md, err := next.HandleInitialize(ctx, in)
			if err == nil || isAnswer(err) {
				var a any = out.Result
				if err != nil {
					a = answeredError{err}
				}
				f.mu.Lock()
				f.answers[key] = a
				f.mu.Unlock()
			}
			return out, md, err
		}), middleware.Before)
}

// answeredError is a refusal kept as the answer: "no such instance type",
// "this service is not available in the region".
type answeredError struct{ err error }

// isAnswer reports whether err is AWS's answer to the question (a 4xx
// other than a throttle), not a failure to get one.
func isAnswer(err error) bool {
	var re interface{ HTTPStatusCode() int }
	if !errors.As(err, &re) {
		return false
	}
	st := re.HTTPStatusCode()
	if st < 400 || st >= 500 || st == 429 {
		return false
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code := ae.ErrorCode()
		if strings.Contains(code, "Throttl") || code == "RequestLimitExceeded" || code == "TooManyRequestsException" {
			return false
		}
	}
	return true
}
