package awsclient

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"
)

// TestUnreachableNamesTheService: the lease read stands in for the STS
// preflight of a run, so its failures must read as the preflight's, naming
// the service whose endpoint failed; any other error is the caller's.
func TestUnreachableNamesTheService(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("AWS_ENDPOINT_URL_SSM", "")
	c := &Clients{Config: aws.Config{Region: "us-east-1", Credentials: aws.CredentialsProviderFunc(
		func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{Source: "EnvConfigCredentials"}, nil
		})}}
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	err := Unreachable(dial, c, Options{}, "ssm")
	var pe *PreflightError
	if !errors.As(err, &pe) || !strings.Contains(pe.Msg, "AWS SSM in us-east-1 (https://ssm.us-east-1.amazonaws.com) refused the connection") {
		t.Errorf("dial failure: got %v", err)
	}

	t.Setenv("AWS_ENDPOINT_URL_SSM", "http://127.0.0.1:1")
	err = Unreachable(dial, c, Options{}, "ssm")
	if err == nil || !strings.Contains(err.Error(), "http://127.0.0.1:1 (from AWS_ENDPOINT_URL_SSM) refused the connection") {
		t.Errorf("dial failure with an SSM endpoint: got %v", err)
	}

	expired := &smithy.GenericAPIError{Code: "ExpiredTokenException", Message: "expired"}
	if err := Unreachable(expired, c, Options{}, "ssm"); err == nil || !strings.Contains(err.Error(), "have expired") {
		t.Errorf("expired credentials: got %v", err)
	}
	notFound := &smithy.GenericAPIError{Code: "ParameterNotFound"}
	if err := Unreachable(notFound, c, Options{}, "ssm"); err != nil {
		t.Errorf("an answer (ParameterNotFound) is the caller's, got %v", err)
	}
}
