package e2e

import (
	"archive/tar"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/whatsthetime/wtt/pkg/emulatortest"
)

// TestReleaseArchive builds the linux/amd64 release archive with goreleaser
// from the project's own .goreleaser.yaml (restricted to that one target,
// so the test takes about a minute instead of building every platform),
// unpacks it into an empty folder, and runs `wtt up` and `wtt down` from
// there against the emulator: what a user who downloads a release does.
//
// goreleaser is not a Go module dependency of wtt; `make release-snapshot`
// installs it. Without it the test is skipped and says how to get it.
func TestReleaseArchive(t *testing.T) {
	t.Parallel() // suites run side by side, each on emulators of its own (scripts_test.go)
	gr := goreleaserPath()
	if gr == "" {
		t.Skip("goreleaser is not installed: run `make release-snapshot` once (it installs the pinned version), or `make test-release`")
	}
	root, err := emulatortest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	// goreleaser reads archive files relative to the repository, so its
	// dist is a folder of its own inside the (git-ignored) dist/.
	rel := filepath.Join("dist", "e2e-"+filepath.Base(work))
	dist := filepath.Join(root, rel)
	t.Cleanup(func() { os.RemoveAll(dist) })
	cfg := filepath.Join(work, "goreleaser.yaml")
	if err := os.WriteFile(cfg, singleTargetConfig(t, filepath.Join(root, ".goreleaser.yaml"), rel), 0o644); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	cmd := exec.Command(gr, "release", "--snapshot", "--clean", "--skip=publish,before", "--config", cfg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("goreleaser: %v\n%s", err, out)
	}
	t.Logf("goreleaser release --snapshot (linux/amd64 archive): %s", time.Since(start).Round(100*time.Millisecond))

	archives, _ := filepath.Glob(filepath.Join(dist, "wtt_*_linux_amd64.tar.gz"))
	if len(archives) != 1 {
		all, _ := filepath.Glob(filepath.Join(dist, "*"))
		t.Fatalf("want one linux/amd64 archive in %s, have %v", dist, all)
	}
	empty := t.TempDir()
	files := untar(t, archives[0], empty)
	t.Logf("%s: %s", filepath.Base(archives[0]), strings.Join(files, " "))
	for _, f := range []string{"wtt", "whatsthetime-linux-amd64", "whatsthetime-linux-arm64", "README.md"} {
		if _, err := os.Stat(filepath.Join(empty, f)); err != nil {
			t.Errorf("the archive lacks %s", f)
		}
	}
	bin := filepath.Join(empty, "wtt")
	emu := emulatortest.Start(t)
	code, out, errOut := runAt(t, emu, bin, "e2e-release", filepath.Join(work, "calls.log"), "version")
	if code != 0 || !strings.Contains(out, "SNAPSHOT") {
		t.Errorf("wtt version from the archive: exit %d: %s%s (want a snapshot version)", code, out, errOut)
	}
	upAndDown(t, emu, bin, "e2e-release")
}

func goreleaserPath() string {
	if p, err := exec.LookPath("goreleaser"); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "bin", "goreleaser")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// singleTargetConfig is the project's goreleaser config with wtt built for
// linux/amd64 only and everything written under dist (relative to the
// repository). The archive section is untouched but for that folder, so the
// archive is the one users download.
func singleTargetConfig(t *testing.T, path, dist string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	c["dist"] = dist
	builds, _ := c["builds"].([]any)
	for _, b := range builds {
		if m, ok := b.(map[string]any); ok && m["id"] == "wtt" {
			m["goos"], m["goarch"] = []string{"linux"}, []string{"amd64"}
			delete(m, "ignore")
		}
	}
	archives, _ := c["archives"].([]any)
	for _, a := range archives {
		m, _ := a.(map[string]any)
		files, _ := m["files"].([]any)
		for _, f := range files {
			if fm, ok := f.(map[string]any); ok {
				if src, ok := fm["src"].(string); ok && strings.HasPrefix(src, "dist/") {
					fm["src"] = filepath.Join(dist, strings.TrimPrefix(src, "dist/"))
				}
			}
		}
	}
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// untar unpacks a .tar.gz into dir and returns the top-level names.
func untar(t *testing.T, archive, dir string) []string {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var top []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return top
		}
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Clean(h.Name)
		if strings.HasPrefix(name, "..") || filepath.IsAbs(name) {
			t.Fatalf("archive entry %q escapes the folder", h.Name)
		}
		if !strings.Contains(name, string(filepath.Separator)) {
			top = append(top, name)
		}
		p := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			out, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode)&0o755|0o600)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(out, tr); err != nil {
				t.Fatal(err)
			}
			out.Close()
		}
	}
}
