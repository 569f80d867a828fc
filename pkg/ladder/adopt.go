package ladder

import (
	"context"
	"fmt"

	"github.com/whatsthetime/wtt/pkg/awsclient"
)

// maxCreateSends bounds how often one create is sent after its answers
// were lost and nothing it could have made was found.
const maxCreateSends = 4

// createOrAdopt sends a create that AWS would carry out twice if it were
// repeated (no idempotency token, no unique name): awsclient stops the
// SDK from retrying it after an ambiguous failure, and here wtt looks for
// what the lost call may have made (by tag or name) before sending it
// again. find reports ok when it found the resource.
func createOrAdopt[T any](ctx context.Context, what string, create func(context.Context) (T, error), find func(context.Context) (T, bool, error)) (T, error) {
	var zero T
	for send := 1; ; send++ {
		v, err := create(ctx)
		if err == nil || !awsclient.IsAmbiguous(err) {
			return v, err
		}
		progressf(ctx, "%s: the answer was lost; looking for what it may have created before sending it again", what)
		found, ok, ferr := find(ctx)
		if ferr != nil {
			return zero, fmt.Errorf("%s: the answer was lost and looking for its result failed: %w; run the same command again", what, ferr)
		}
		if ok {
			progressf(ctx, "%s: it had worked; adopting what it created", what)
			return found, nil
		}
		if send >= maxCreateSends {
			return zero, err
		}
	}
}
