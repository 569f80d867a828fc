package browser

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/whatsthetime/wtt/pkg/emulatortest"
)

// screenshot takes a picture of url at width x height and checks it is a
// real rendering (the right size, not one flat colour). With
// WTT_UPDATE_SCREENSHOT=1 it writes it to docs/img/name, where
// docs/timeserver.md shows it; otherwise it checks that file exists, so the
// documentation never points at a missing picture. The clock differs from
// run to run, so the file is only rewritten when asked.
func screenshot(t *testing.T, browser context.Context, url string, width, height int64, mobile bool, name string) {
	t.Helper()
	tb := newTab(t, browser)
	opts := []chromedp.EmulateViewportOption{}
	if mobile {
		opts = append(opts, chromedp.EmulateMobile)
	}
	if err := chromedp.Do(tb.ctx, chromedp.EmulateViewport(width, height, opts...)); err != nil {
		t.Fatal(err)
	}
	tb.open(t, url)
	shot, err := chromedp.Run(tb.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("the screenshot is not a PNG: %v", err)
	}
	if b := img.Bounds(); int64(b.Dx()) != width || int64(b.Dy()) != height {
		t.Errorf("screenshot is %dx%d, want %dx%d", b.Dx(), b.Dy(), width, height)
	}
	if flat(img) {
		t.Error("the screenshot is one flat colour: nothing was drawn")
	}

	root, err := emulatortest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "docs", "img", name)
	if os.Getenv(updateScreenshotEnv) == "1" {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, shot, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", path)
		return
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("%v: the screenshot docs/timeserver.md shows is missing; make it with\n    %s=1 go test -count=1 -run 'TestTimePage/screenshots' ./e2e/browser/",
			err, updateScreenshotEnv)
	}
}

func flat(img image.Image) bool {
	b := img.Bounds()
	first := img.At(b.Min.X, b.Min.Y)
	r0, g0, b0, _ := first.RGBA()
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r != r0 || g != g0 || bl != b0 {
				return false
			}
		}
	}
	return true
}
