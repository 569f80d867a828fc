package tutorial

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/whatsthetime/wtt/pkg/emulatortest"
)

// updateEnv, set to 1, rewrites docs/tutorial.md (make tutorial).
const updateEnv = "WTT_UPDATE_TUTORIAL"

const updateHint = "make tutorial    # or: " + updateEnv + "=1 go test -count=1 -run TestTutorial ./scripts/tutorial/"

// TestTutorial walks the ladder with the real wtt binary on a fresh
// emulator and compares the tutorial it writes with docs/tutorial.md.
func TestTutorial(t *testing.T) {
	root, err := emulatortest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	// wtt delivers the linux time server from beside its own executable.
	build(t, root, filepath.Join(bin, "wtt"), "./cmd/wtt", runtime.GOOS, runtime.GOARCH)
	build(t, root, filepath.Join(bin, "whatsthetime-linux-amd64"), "./timeserver", "linux", "amd64")

	emu := emulatortest.Start(t)
	// Seed the emulator's random numbers: most IDs then repeat from run to
	// run (the normaliser makes the rest stable).
	if !emu.External() {
		resp, err := http.Post(emu.URL()+"/moto-api/seed?a=42", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	home := t.TempDir()
	env := append(os.Environ(), emu.Env()...)
	env = append(env, "WTT_APP=whatsthetime", "HOME="+home, "NO_COLOR=1", "WTT_MAX_BACKOFF=200ms")

	run := func(args ...string) (Result, error) {
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(filepath.Join(bin, "wtt"), args...)
		cmd.Env = env
		cmd.Dir = home
		cmd.Stdout = &stdout
		cmd.Stderr = &stderr
		began := time.Now()
		err := cmd.Run()
		t.Logf("wtt %s (%s)", strings.Join(args, " "), time.Since(began).Round(time.Millisecond))
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			err = nil
		}
		return Result{Stdout: stdout.String(), Stderr: stderr.String(), ExitCode: cmd.ProcessState.ExitCode()}, err
	}
	got, err := Generate(run)
	if err != nil {
		t.Fatal(err)
	}

	path := filepath.Join(root, "docs", "tutorial.md")
	if os.Getenv(updateEnv) == "1" {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", path)
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v\nwrite it with:\n    %s", err, updateHint)
	}
	if string(want) != got {
		t.Errorf("docs/tutorial.md no longer matches what wtt prints (- checked in, + this run):\n%s\nIf the change is intended, update it with:\n    %s",
			lineDiff(string(want), got), updateHint)
	}
}

func build(t *testing.T, root, out, pkg, goos, goarch string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
}

// lineDiff is a small unified-style diff (longest common subsequence of
// lines), enough to show what changed in a page of Markdown.
func lineDiff(a, b string) string {
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out strings.Builder
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			i, j = i+1, j+1
		case j < len(y) && (i == len(x) || lcs[i][j+1] >= lcs[i+1][j]):
			fmt.Fprintf(&out, "%4d + %s\n", j+1, y[j])
			j++
		default:
			fmt.Fprintf(&out, "%4d - %s\n", i+1, x[i])
			i++
		}
	}
	return out.String()
}
