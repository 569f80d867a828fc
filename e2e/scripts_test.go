package e2e

import (
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/whatsthetime/wtt/pkg/emulatortest"
)

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
//
// TestScripts is in this file, last in go test's order (files by name),
// so that the long suites (TestReliability's walks, TestProbeScripts) are
// queued for a -parallel slot before its many short scripts: started last,
// they would end last, with a core idle meanwhile.
func TestScripts(t *testing.T) {
	t.Parallel() // suites run side by side, each on emulators of its own (scripts_test.go)
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
			scriptEnv(t, env, emu)
			return nil
		},
		Cmds: checkCommands(),
	})
}

// scriptEnv sets up one script's environment on emu: the binaries on
// PATH, the emulator's endpoint and credentials, an app name of its own
// (WTT_APP and $APP), the call logs, a home of its own, and the checker
// the `aws` command uses.
func scriptEnv(t *testing.T, env *testscript.Env, emu *emulatortest.Emulator) {
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
