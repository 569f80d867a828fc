// Package e2e runs the real wtt binary against the AWS emulator (or, with
// WTT_E2E_ENDPOINT, any AWS-compatible endpoint) as testscript scripts, and
// checks what each command did through the AWS SDK directly.
package e2e

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

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

// TestScripts runs e2e/testdata/script/*.txtar. Each script gets its own
// app name, so scripts share an emulator without seeing each other.
//
// Scheduling: every suite of this package (TestScripts, TestProbeScripts,
// TestReliability, TestIAMPolicyExact, ...) is a parallel test with
// emulators of its own, so they all run side by side, as many test bodies
// at once as go test's -parallel allows (make test passes -parallel 8).
// Most of a suite's wall time is spent waiting (on waiters, health checks,
// leases): one emulator is busy about a third of the time, so running
// suites one after another left both cores mostly idle. An emulator is one
// Python process (one core at most, by the GIL), so the scripts are dealt
// round-robin to several.
func TestScripts(t *testing.T) {
	t.Parallel() // suites run side by side, each on emulators of its own (e2e_test.go)
	emus := make([]*emulatortest.Emulator, scriptEmulators())
	for i := range emus {
		emus[i] = emulatortest.Start(t)
	}
	var dealt atomic.Int64
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			emu := emus[int(dealt.Add(1)-1)%len(emus)]
			env.Setenv("PATH", binDir+string(os.PathListSeparator)+env.Getenv("PATH"))
			for _, kv := range emu.Env() {
				k, v, _ := strings.Cut(kv, "=")
				env.Setenv(k, v)
			}
			app := appName(env.WorkDir)
			env.Setenv("WTT_APP", app)
			env.Setenv("APP", app)
			env.Setenv("WTT_CALL_LOG", filepath.Join(env.WorkDir, "calls.log"))
			env.Setenv("WTT_CALL_LOG_ALL", callLogAll)
			env.Setenv("WTT_MAX_BACKOFF", "200ms")
			env.Setenv("HOME", env.WorkDir)
			env.Setenv("NO_COLOR", "1")
			env.Values[checkerKey{}] = newChecker(emu.AWSConfig(t), app)
			return nil
		},
		Cmds: checkCommands(),
	})
}

// scriptEmulators is how many emulators TestScripts starts: one per script
// that runs at a time (go test's -parallel, GOMAXPROCS unless given), at
// most 4 (each holds its own moto, about 270 MB), or WTT_E2E_EMULATORS.
// With WTT_E2E_ENDPOINT set, Start starts none anyway.
func scriptEmulators() int {
	if n, err := strconv.Atoi(os.Getenv("WTT_E2E_EMULATORS")); err == nil && n > 0 {
		return n
	}
	parallel := runtime.GOMAXPROCS(0)
	if f := flag.Lookup("test.parallel"); f != nil {
		if n, err := strconv.Atoi(f.Value.String()); err == nil && n > 0 {
			parallel = n
		}
	}
	return min(parallel, 4)
}

// appName derives a short, valid, unique app name from the script's work
// directory (testscript names it after the script).
func appName(workdir string) string {
	base := filepath.Base(workdir)
	base = strings.TrimPrefix(base, "script-")
	var b strings.Builder
	b.WriteString("e2e-")
	for _, r := range strings.ToLower(base) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteRune('-')
		}
	}
	name := strings.Trim(b.String(), "-")
	if len(name) > 24 {
		name = strings.Trim(name[:24], "-")
	}
	return name
}
