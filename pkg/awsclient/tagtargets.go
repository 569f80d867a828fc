package awsclient

import (
	"context"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go/middleware"
)

// EC2's CreateTags and DeleteTags take any resource: the action name alone
// does not say whether a VPC, an instance or a reservation was tagged. The
// observer (pkg/observe) reads again only what a call could have changed,
// so it asks which resources the tag calls named.

var tagTargets sync.Map // *Recorder -> *targetLog

type targetLog struct {
	mu  sync.Mutex
	ids []string
}

// TagTargets returns the resource IDs named by every ec2:CreateTags and
// ec2:DeleteTags call made so far through clients recording to r, in order.
func (r *Recorder) TagTargets() []string {
	v, ok := tagTargets.Load(r)
	if !ok {
		return nil
	}
	l := v.(*targetLog)
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.ids...)
}

func (r *Recorder) tagged(ids []string) {
	v, _ := tagTargets.LoadOrStore(r, &targetLog{})
	l := v.(*targetLog)
	l.mu.Lock()
	l.ids = append(l.ids, ids...)
	l.mu.Unlock()
}

// addTagTargets records the resource IDs of EC2 tag calls, once per call,
// before they are sent (a call that fails may still have tagged).
func addTagTargets(s *middleware.Stack, o Options) error {
	return s.Initialize.Add(middleware.InitializeMiddlewareFunc("wttTagTargets",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			switch p := in.Parameters.(type) {
			case *ec2.CreateTagsInput:
				o.Recorder.tagged(p.Resources)
			case *ec2.DeleteTagsInput:
				o.Recorder.tagged(p.Resources)
			}
			return next.HandleInitialize(ctx, in)
		}), middleware.After)
}
