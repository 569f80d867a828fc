package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/whatsthetime/wtt/pkg/emulatortest"
)

// runAt runs the wtt at bin against emu as app, stdin not a terminal, and
// returns its exit code and output. The call log is per invocation.
func runAt(t *testing.T, emu *emulatortest.Emulator, bin, app, callLog string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	home := t.TempDir()
	cmd.Env = append(os.Environ(), emu.Env()...)
	cmd.Env = append(cmd.Env, "WTT_APP="+app, "WTT_MAX_BACKOFF=200ms", "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"NO_COLOR=1", "WTT_CALL_LOG="+callLog, "WTT_CALL_LOG_ALL="+callLogAll, "WTT_CONFIG=", "WTT_OUTPUT=")
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(""), &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), stdout.String(), stderr.String()
	}
	t.Fatalf("running %s %v: %v", bin, args, err)
	return 0, "", ""
}

// upAndDown runs `up` and `down` with the wtt at bin and fails unless both
// succeed and up leaves the app at stage single.
func upAndDown(t *testing.T, emu *emulatortest.Emulator, bin, app string) {
	t.Helper()
	log := filepath.Join(t.TempDir(), "calls.log")
	code, out, errOut := runAt(t, emu, bin, app, log, "up", "--yes")
	if code != 0 || !strings.Contains(out, "is at stage single") {
		t.Fatalf("%s up: exit %d\n%s%s", bin, code, out, errOut)
	}
	if code, out, errOut := runAt(t, emu, bin, app, log, "down", "--yes"); code != 0 {
		t.Fatalf("%s down: exit %d\n%s%s", bin, code, out, errOut)
	}
}

// TestDelivery gets wtt the documented ways and runs `up` and `down` with
// each against one emulator (the release archive has its own test,
// TestReleaseArchive, as it needs goreleaser).
func TestDelivery(t *testing.T) {
	t.Parallel() // suites run side by side, each on emulators of its own (scripts_test.go)
	emu := emulatortest.Start(t)
	t.Run("go-install", func(t *testing.T) { deliveryGoInstall(t, emu) })
	t.Run("make-build", func(t *testing.T) { deliveryMakeBuild(t, emu) })
}

// deliveryGoInstall is the newcomer's `go install`: a wtt with no time
// server beside it. `up` must refuse before any mutating call, with exit 2
// and a command that, run as printed, makes the next `up` work.
func deliveryGoInstall(t *testing.T, emu *emulatortest.Emulator) {
	root, err := emulatortest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	gobin := t.TempDir()
	install := exec.Command("go", "install", "./cmd/wtt")
	install.Dir = root
	install.Env = append(os.Environ(), "GOBIN="+gobin, "CGO_ENABLED=0")
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("go install ./cmd/wtt: %v\n%s", err, out)
	}
	bin := filepath.Join(gobin, "wtt")
	app := "e2e-delivery-goinstall"

	log := filepath.Join(t.TempDir(), "calls.log")
	code, out, errOut := runAt(t, emu, bin, app, log, "up", "--yes")
	t.Logf("$ wtt up --yes (exit %d)\n%s%s", code, out, errOut)
	if code != 2 {
		t.Fatalf("up without the time server beside wtt: exit %d, want 2", code)
	}
	want := "the time server for linux/amd64 is not beside wtt (no " + filepath.Join(gobin, "whatsthetime-linux-amd64") + ")"
	if !strings.Contains(errOut, want) {
		t.Errorf("stderr does not say what is missing (want %q)", want)
	}
	if m := mutating(callLogLines(t, log)); len(m) > 0 {
		t.Errorf("made mutating calls before refusing: %v", m)
	}
	fix := regexp.MustCompile("in the wtt source folder run `([^`]+)`").FindStringSubmatch(errOut)
	if fix == nil {
		t.Fatalf("stderr gives no command to run")
	}

	// Run the fix exactly as printed, from the source folder.
	sh := exec.Command("sh", "-c", fix[1])
	sh.Dir = root
	if b, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("the printed fix failed: %s: %v\n%s", fix[1], err, b)
	}
	upAndDown(t, emu, bin, app)
}

// deliveryMakeBuild is `make build`: bin/wtt with both linux builds beside
// it, so up works at once.
func deliveryMakeBuild(t *testing.T, emu *emulatortest.Emulator) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make on this machine: apt-get install make")
	}
	root, err := emulatortest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	mk := exec.Command("make", "build", "BIN="+out)
	mk.Dir = root
	if b, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, b)
	}
	for _, f := range []string{"wtt", "whatsthetime-linux-amd64", "whatsthetime-linux-arm64"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Fatalf("make build did not write %s: %v", f, err)
		}
	}
	upAndDown(t, emu, filepath.Join(out, "wtt"), "e2e-delivery-make")
}
