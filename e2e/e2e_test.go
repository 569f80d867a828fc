// Package e2e runs the real wtt binary against the AWS emulator (or, with
// WTT_E2E_ENDPOINT, any AWS-compatible endpoint) as testscript scripts, and
// checks what each command did through the AWS SDK directly.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/whatsthetime/wtt/pkg/emulatortest"
)

var binDir string

// callLogAll gathers every AWS call every wtt run of the suite makes
// (env WTT_CALL_LOG_ALL); after the tests, checkSuiteCallsInPolicy holds
// them against the generated IAM policy.
var callLogAll string

// TestMain builds wtt and the linux time server once; every script runs
// the same binaries, as a user would.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wtt-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	root, err := emulatortest.RepoRoot()
	if err == nil {
		err = build(root, filepath.Join(dir, "wtt"), "./cmd/wtt", runtime.GOOS, runtime.GOARCH)
	}
	if err == nil {
		err = build(root, filepath.Join(dir, "whatsthetime-linux-amd64"), "./timeserver", "linux", "amd64")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "building binaries:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	callLogAll = filepath.Join(dir, "calls-all.log")
	code := m.Run()
	if code == 0 {
		code = checkSuiteCallsInPolicy()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func build(root, out, pkg, goos, goarch string) error {
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}
