package cli

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"

	"github.com/whatsthetime/wtt/pkg/awsclient"
	"github.com/whatsthetime/wtt/pkg/ladder"
	"github.com/whatsthetime/wtt/pkg/observe"
)

// A mutating command observes AWS once, plans, and only then takes the
// lease (planning must not need the lease: bad input and dry runs take
// none). The observation still holds after the lease is taken if no other
// operator could have changed the app in between: the lease was free
// before this run observed, and it was taken at the first attempt, without
// waiting for a holder or breaking a stale one. Otherwise everything is
// read again and the plan made anew.

// clientsForLeaseRead loads the clients for a command whose first request
// is the lease read (readLeaseFirst): the preflight's call-free half runs
// here, and the lease read stands in for its sts:GetCallerIdentity, saying
// as it would when AWS cannot be reached or refuses the credentials. One
// request fewer per mutating command; the account, which STS would have
// named, is the VPC's owner (STS is asked only when there is no VPC yet).
func (f *Factory) clientsForLeaseRead(ctx context.Context) (*awsclient.Clients, error) {
	return f.loadClients(ctx, awsclient.CheckCredentials)
}

// readLeaseFirst reads the lease before the first observation, as the
// command's first request. Any answer but "absent" (held, unreadable,
// another error) counts as held; a failure to reach AWS at all is the
// preflight's one-line error (exit 1).
func (f *Factory) readLeaseFirst(ctx context.Context, e *ladder.Env) (bool, error) {
	rctx, cancel := context.WithTimeout(ctx, awsclient.PreflightTimeout())
	defer cancel()
	_, err := e.C.SSM.GetParameter(rctx, &ssm.GetParameterInput{Name: aws.String(e.N.LeaseParameter())}, func(so *ssm.Options) {
		so.Retryer = awsclient.FailFast(so.Retryer)
	})
	if err != nil {
		if perr := awsclient.Unreachable(err, e.C, f.awsOptions(), "ssm"); perr != nil {
			return true, perr
		}
	}
	var ae smithy.APIError
	return !(errors.As(err, &ae) && ae.ErrorCode() == "ParameterNotFound"), nil
}

// leaseCalls counts the lease's calls, to tell a lease taken at the first
// attempt (one PutParameter) from one that was waited for or broken.
func leaseCalls(e *ladder.Env) int {
	n := 0
	for action, c := range e.C.Recorder.Calls() {
		if action == "ssm:PutParameter" || action == "ssm:GetParameter" || action == "ssm:DeleteParameter" {
			n += c
		}
	}
	return n
}

// invalidateUnlessUntouched makes the next refresh read everything again
// unless the lease proves nobody else ran in between.
func invalidateUnlessUntouched(e *ladder.Env, heldBefore bool, callsBefore int) {
	if heldBefore || leaseCalls(e)-callsBefore != 1 {
		e.Observer.Invalidate(observe.KindAll)
	}
}
