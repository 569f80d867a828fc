package awsclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// mutateThrice is what TestKillAfterMutations runs in a child process: a
// read, then three mutating calls, the first of them throttled once.
func mutateThrice(t *testing.T, url string) {
	c := load(t, url, Options{})
	ctx := context.Background()
	if _, err := c.EC2.DescribeRegions(ctx, &ec2.DescribeRegionsInput{}); err != nil {
		fmt.Println("read failed:", err)
	}
	fmt.Println("read")
	for i := 1; i <= 3; i++ {
		if _, err := c.EC2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{"i-1"}, Tags: []ec2types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}); err != nil {
			fmt.Println("mutation failed:", err)
		}
		fmt.Println("mutation", i)
	}
}

// WTT_TEST_KILL_AFTER_MUTATIONS=K kills the process with SIGKILL right
// after its K-th mutating call returns: reads and retries do not count.
func TestKillAfterMutations(t *testing.T) {
	if url := os.Getenv("AWSCLIENT_TEST_CHILD"); url != "" {
		mutateThrice(t, url)
		os.Exit(0)
	}
	for _, tc := range []struct {
		env       string
		output    string
		killed    bool
		mutations int32 // requests of mutating calls the server saw, retry included
	}{
		{"", "read\nmutation 1\nmutation 2\nmutation 3\n", false, 4},
		{"1", "read\n", true, 2},
		{"2", "read\nmutation 1\n", true, 3},
		{"3", "read\nmutation 1\nmutation 2\n", true, 4},
		{"4", "read\nmutation 1\nmutation 2\nmutation 3\n", false, 4},
	} {
		var hits atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			if !strings.Contains(string(body), "Action=CreateTags") {
				w.Write([]byte(describeRegions))
				return
			}
			if hits.Add(1) == 1 {
				w.WriteHeader(http.StatusBadRequest)
				w.Write([]byte(`<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>slow down</Message></Error></Errors><RequestID>x</RequestID></Response>`))
				return
			}
			w.Write([]byte(`<CreateTagsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><return>true</return></CreateTagsResponse>`))
		}))
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillAfterMutations$")
		cmd.Env = append(os.Environ(), "AWSCLIENT_TEST_CHILD="+srv.URL, "WTT_TEST_KILL_AFTER_MUTATIONS="+tc.env)
		var out bytes.Buffer
		cmd.Stdout = &out
		err := cmd.Run()
		srv.Close()
		var ee *exec.ExitError
		killed := errors.As(err, &ee) && ee.ExitCode() == -1 && strings.Contains(ee.String(), "killed")
		if killed != tc.killed || out.String() != tc.output || hits.Load() != tc.mutations {
			t.Errorf("WTT_TEST_KILL_AFTER_MUTATIONS=%q: killed=%v (%v), output %q, %d mutating request(s); want killed=%v, output %q, %d",
				tc.env, killed, err, out.String(), hits.Load(), tc.killed, tc.output, tc.mutations)
		}
	}
}
