package cli

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/viper"

	"github.com/whatsthetime/wtt/pkg/cmdutil"
	"github.com/whatsthetime/wtt/pkg/iostreams"
	"github.com/whatsthetime/wtt/pkg/ladder"
)

// runCLI runs wtt in-process with args and returns the exit code, stderr,
// and whether AWS clients were ever built (they must not be, for input
// refused by validation).
func runCLI(t *testing.T, args ...string) (code int, stderr string, touchedAWS bool) {
	t.Helper()
	var out, errb bytes.Buffer
	f := &Factory{IO: iostreams.Test(strings.NewReader(""), &out, &errb), V: viper.New()}
	root := NewRootCmd(f)
	root.SetArgs(args)
	code = handleError(f, root.Execute())
	return code, errb.String(), f.clients != nil
}

// runCLIOut runs wtt in-process and writes its stdout to out.
func runCLIOut(t *testing.T, out io.Writer, args ...string) (code int, stderr string) {
	t.Helper()
	var errb bytes.Buffer
	f := &Factory{IO: iostreams.Test(strings.NewReader(""), out, &errb), V: viper.New()}
	root := NewRootCmd(f)
	root.SetArgs(args)
	return handleError(f, root.Execute()), errb.String()
}

func isolate(t *testing.T) {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	t.Setenv("WTT_CONFIG", "")
	t.Setenv("WTT_APP", "")
	t.Setenv("WTT_OUTPUT", "")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_DEFAULT_REGION", "")
	// Nothing listens there: a case that slipped past validation would
	// fail on the connection, not change anything.
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
}

// TestBadInvocationsRefusedBeforeAWS checks the flag validation of every
// command without AWS: each invocation exits 2, says what is wrong and how
// to fix it, and never builds an AWS client. The end-to-end table
// (e2e/badinput_test.go) runs the real binary, including the cases that
// need AWS to decide.
func TestBadInvocationsRefusedBeforeAWS(t *testing.T) {
	isolate(t)
	badYAML := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(badYAML, []byte("app: [unclosed\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args    []string
		problem string
	}{
		{[]string{"migrate", "--to=bogus"}, `unknown stage "bogus"`},
		{[]string{"migrate"}, "--to is required"},
		{[]string{"migrate", "--to=none"}, "stage none is not supported"},
		{[]string{"plan", "--to="}, "--to is required"},
		{[]string{"scale", "--horizontal", "0"}, "--horizontal 0 is out of range"},
		{[]string{"scale", "--horizontal", "-1"}, "--horizontal -1 is out of range"},
		{[]string{"scale", "--horizontal", "1000"}, "--horizontal 1000 is out of range"},
		{[]string{"scale"}, "nothing to scale"},
		{[]string{"scale", "--vertical", "m5.large", "--horizontal", "2"}, "cannot be combined"},
		{[]string{"scale", "--vertical", "M5.LARGE"}, "is not an instance type"},
		{[]string{"scale", "--vertical", "m5.large", "--min", "2"}, "--min and --max go with --horizontal"},
		{[]string{"scale", "--horizontal", "3", "--min", "5", "--max", "4"}, "--min 5 is above --max 4"},
		{[]string{"migrate", "--to=asg", "--desired", "9", "--max", "4"}, "--desired 9 is outside"},
		{[]string{"migrate", "--to=asg", "--min", "101"}, "--min 101 is out of range"},
		{[]string{"migrate", "--to=dns", "--dns-name", "api.example.com", "--ttl", "0"}, "--ttl 0 is out of range"},
		{[]string{"migrate", "--to=dns", "--dns-name", "api.example.com", "--ttl", "86401"}, "--ttl 86401 is out of range"},
		{[]string{"migrate", "--to=dns", "--dns-name", "api.example.com", "--ttl", "-5"}, "--ttl -5 is out of range"},
		{[]string{"migrate", "--to=dns", "--dns-name", "api example.com"}, "not a valid DNS name"},
		{[]string{"migrate", "--to=dns", "--dns-name", "api..example.com"}, "not a valid DNS name"},
		{[]string{"migrate", "--to=dns", "--dns-name", strings.Repeat("a", 300) + ".com"}, "not a valid DNS name"},
		{[]string{"migrate", "--to=dns", "--dns-name", "-bad.com"}, "not a valid DNS name"},
		{[]string{"migrate", "--to=dns", "--dns-name", "api.example.com/x"}, "not a valid DNS name"},
		{[]string{"migrate", "--to=dns", "--dns-name", "com"}, "not a valid DNS name"},
		{[]string{"migrate", "--to=dns", "--dns-name", "10.0.0.1"}, "not a valid DNS name"},
		{[]string{"migrate", "--to=alb", "--record-type", "txt"}, `unknown --record-type "txt"`},
		{[]string{"migrate", "--to=multi-az", "--azs", "1"}, "--azs 1 is too few"},
		{[]string{"migrate", "--to=multi-az", "--azs", "7"}, "--azs 7 is out of range"},
		{[]string{"migrate", "--to=asg", "--cpu-target", "0"}, "--cpu-target 0 is not a percentage"},
		{[]string{"migrate", "--to=asg", "--cpu-target", "150"}, "--cpu-target 150 is not a percentage"},
		{[]string{"migrate", "--to=reserved", "--term", "2y"}, `unknown --term "2y"`},
		{[]string{"migrate", "--to=reserved", "--payment", "bogus"}, `unknown --payment "bogus"`},
		{[]string{"migrate", "--to=reserved", "--offering-class", "x"}, `unknown --offering-class "x"`},
		{[]string{"migrate", "--to=reserved", "--max-upfront", "-3"}, "--max-upfront must not be negative"},
		{[]string{"migrate", "--to=eip", "--dry-run=bogus"}, `unknown --dry-run value "bogus"`},
		{[]string{"up", "--instance-type", "huge"}, "is not an instance type"},
		{[]string{"up", "--ami", "bogus"}, `--ami "bogus" is not an AMI ID`},
		{[]string{"up", "--server-binary", "/nonexistent/whatsthetime"}, "--server-binary /nonexistent/whatsthetime"},
		{[]string{"status", "--app", "BadApp"}, `app name "BadApp" is not valid`},
		{[]string{"status", "--app", strings.Repeat("a", 25)}, "is 25 characters long"},
		{[]string{"status", "--app", "1abc"}, "is not valid"},
		{[]string{"status", "--app", "a_b"}, "is not valid"},
		{[]string{"status", "--app", "a--b"}, "is not valid"},
		{[]string{"status", "-o", "xml"}, `unknown output format "xml"`},
		{[]string{"status", "--timeout", "-1s"}, "--timeout must be positive"},
		{[]string{"status", "--lock-timeout", "-5s"}, "--lock-timeout must not be negative"},
		{[]string{"status", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"status", "extra"}, `unknown command "extra" for "wtt status"`},
		{[]string{"bogus"}, `unknown command "bogus" for "wtt"`},
		{[]string{"status", "--region", "us-east-1x"}, `--region "us-east-1x" is not an AWS region name`},
		{[]string{"status", "--endpoint-url", "ftp://x"}, "is not an http(s) URL"},
		{[]string{"status", "--config", badYAML}, "reading config"},
		{[]string{"iam-policy", "teleport"}, `unknown command "teleport"`},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, stderr, touched := runCLI(t, tc.args...)
			if code != cmdutil.ExitBadInput {
				t.Errorf("exit %d, want 2\n%s", code, stderr)
			}
			if !strings.Contains(stderr, tc.problem) {
				t.Errorf("stderr does not say %q:\n%s", tc.problem, stderr)
			}
			if !strings.Contains(stderr, "\n  fix: ") {
				t.Errorf("stderr gives no fix:\n%s", stderr)
			}
			if touched {
				t.Errorf("AWS clients were built for input refused by validation")
			}
		})
	}
}

func TestValidateConnection(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("AWS_ENDPOINT_URL", "")
	for _, ok := range []string{"us-east-1", "ap-southeast-2", "us-gov-west-1", "cn-north-1", "us-isob-east-1", "il-central-1", ""} {
		if err := validateConnection(ok, ""); err != nil {
			t.Errorf("region %q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"us-east", "US-EAST-1", "us-east-1x", "bogus", "us_east_1", "us-east-100"} {
		if err := validateConnection(bad, ""); !cmdutil.IsUsage(err) {
			t.Errorf("region %q: %v, want bad input", bad, err)
		}
	}
	for _, ok := range []string{"http://127.0.0.1:4566", "https://ec2.us-east-1.amazonaws.com"} {
		if err := validateConnection("", ok); err != nil {
			t.Errorf("endpoint %q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"not-a-url", "ftp://x", "http://", "127.0.0.1:4566"} {
		if err := validateConnection("", bad); !cmdutil.IsUsage(err) {
			t.Errorf("endpoint %q: %v, want bad input", bad, err)
		}
	}
	t.Setenv("AWS_REGION", "nowhere")
	if err := validateConnection("", ""); err == nil || !strings.Contains(err.Error(), "AWS_REGION") {
		t.Errorf("a bad AWS_REGION: %v, want it named", err)
	}
}

func TestAsUsageError(t *testing.T) {
	other := errors.New("describing VPCs: throttled")
	if got := asUsageError(other); got != other {
		t.Errorf("a failure became %v", got)
	}
	err := asUsageError(errors.New("unknown command \"x\" for \"wtt down\"\n\nDid you mean this?\n\tdown"))
	var u *cmdutil.UsageError
	if !errors.As(err, &u) || u.Problem != `unknown command "x" for "wtt down"` || !strings.Contains(u.Fix, "wtt down --help") {
		t.Errorf("got %#v", err)
	}
}

func TestValidateLaunchInputs(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "whatsthetime-linux-amd64")
	if err := os.WriteFile(bin, []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	ok := []ladder.Options{{}, {AMI: "ami-12345678"}, {AMI: "ami-0123456789abcdef0"}, {ServerBinary: bin}}
	for _, o := range ok {
		if err := validateLaunchInputs(o); err != nil {
			t.Errorf("%+v refused: %v", o, err)
		}
	}
	bad := []ladder.Options{{AMI: "ami-xyz"}, {AMI: "0123456789abcdef0"}, {AMI: "ami-0123456789ABCDEF0"},
		{ServerBinary: filepath.Dir(bin)}, {ServerBinary: bin + ".missing"}}
	for _, o := range bad {
		if err := validateLaunchInputs(o); !cmdutil.IsUsage(err) {
			t.Errorf("%+v: %v, want bad input", o, err)
		}
	}
}
