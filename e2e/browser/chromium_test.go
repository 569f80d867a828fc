package browser

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// Environment variables that steer the browser tests.
const (
	// chromiumEnv names a Chrome or Chromium binary to use instead of the
	// first one found on PATH.
	chromiumEnv = "WTT_CHROMIUM"
	// skipEnv, set to 1, skips the browser tests where no browser is found
	// (an explicit opt-out: without it a missing browser fails the test).
	skipEnv = "WTT_SKIP_BROWSER"
	// updateScreenshotEnv, set to 1, rewrites the screenshots in docs/img.
	updateScreenshotEnv = "WTT_UPDATE_SCREENSHOT"
)

// browserNames are looked up on PATH in this order: Debian's package first.
var browserNames = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

const installHint = `headless Chromium is needed to test the time page in a browser, and none was found
(looked for $` + chromiumEnv + ` and for chromium, chromium-browser, google-chrome on PATH).
Install it:
    sudo apt-get update && sudo apt-get install -y chromium      # Debian, Ubuntu
or point ` + chromiumEnv + ` at a Chrome or Chromium binary.
To skip the browser tests knowingly instead: ` + skipEnv + `=1 go test ./e2e/browser/`

// findChromium returns the browser binary, or fails the test with the way
// to install one (skips it only under WTT_SKIP_BROWSER=1).
func findChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv(chromiumEnv); p != "" {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("%s=%s is not an executable: %v", chromiumEnv, p, err)
		}
		return p
	}
	for _, name := range browserNames {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv(skipEnv) == "1" {
		t.Skipf("%s=1: skipping; %s", skipEnv, installHint)
	}
	t.Fatal(installHint)
	return ""
}

// startBrowser launches one headless browser for the test and returns its
// context; each tab is a child context of it (newTab).
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	exe := findChromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	var output syncBuffer
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		// The tests run as root in CI containers, where Chromium's sandbox
		// cannot start; the page is our own, served on loopback.
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.WindowSize(1024, 768),
		chromedp.CombinedOutput(&output),
	)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	bctx, bcancel := chromedp.NewContext(actx)
	// Start the browser now, so a browser that cannot start fails here with
	// its own output rather than in the first check.
	if err := chromedp.Do(bctx); err != nil {
		bcancel()
		acancel()
		cancel()
		t.Fatalf("starting %s: %v\nbrowser output:\n%s", exe, err, output.String())
	}
	t.Cleanup(func() {
		bcancel()
		acancel()
		cancel()
	})
	return bctx
}

// tab is one browser tab that records what a visitor would not see: console
// errors and warnings, uncaught exceptions, and CSP violations.
type tab struct {
	ctx context.Context

	mu       sync.Mutex
	messages []chromedp.ConsoleMessage
}

// cspRecorder runs before any script of every document the tab loads: it
// keeps each securitypolicyviolation event where the test can read it.
// (Scripts added through the DevTools protocol are not subject to the
// page's CSP.)
const cspRecorder = `window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cspViolations.push(e.violatedDirective + " blocked " + (e.blockedURI || "inline") +
    " at line " + e.lineNumber);
});`

func newTab(t *testing.T, browser context.Context) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	tb := &tab{ctx: ctx}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			tb.mu.Lock()
			tb.messages = append(tb.messages, m)
			tb.mu.Unlock()
		}
	}()
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument,
		page.AddScriptToEvaluateOnNewDocumentParams{Source: cspRecorder}); err != nil {
		t.Fatalf("installing the CSP recorder: %v", err)
	}
	return tb
}

// problems lists the console errors, warnings, exceptions and CSP
// violations seen so far (the CSP ones of the current document), except
// messages for which allowed returns true.
func (tb *tab) problems(t *testing.T, allowed func(chromedp.ConsoleMessage) bool) []string {
	t.Helper()
	// Console events arrive asynchronously; give the last ones a moment.
	time.Sleep(200 * time.Millisecond)
	var out []string
	tb.mu.Lock()
	for _, m := range tb.messages {
		switch m.Type {
		case chromedp.ConsoleError, chromedp.ConsoleWarning, chromedp.ConsoleException:
			if allowed == nil || !allowed(m) {
				where := ""
				if m.URL != "" {
					where = fmt.Sprintf(" (%s:%d)", m.URL, m.Line+1)
				}
				src := ""
				if m.Source != "" {
					src = "[" + m.Source + "] "
				}
				out = append(out, "console "+src+m.String()+where)
			}
		}
	}
	tb.mu.Unlock()
	csp, err := chromedp.Run(tb.ctx, chromedp.Evaluate[[]string](`window.__cspViolations || []`))
	if err != nil {
		t.Fatalf("reading CSP violations: %v", err)
	}
	for _, v := range csp {
		out = append(out, "CSP violation: "+v)
	}
	return out
}

// expectClean fails the test for every problem the tab has seen.
func (tb *tab) expectClean(t *testing.T, allowed func(chromedp.ConsoleMessage) bool) {
	t.Helper()
	for _, p := range tb.problems(t, allowed) {
		t.Error(p)
	}
	if allowed != nil {
		for _, p := range tb.problems(t, func(m chromedp.ConsoleMessage) bool { return !allowed(m) }) {
			if strings.HasPrefix(p, "console ") {
				t.Logf("allowed: %s", p)
			}
		}
	}
}

// open navigates and returns the document's HTTP status.
func (tb *tab) open(t *testing.T, url string) int64 {
	t.Helper()
	resp, err := chromedp.RunResponse(tb.ctx, chromedp.Navigate(url))
	if err != nil {
		t.Fatalf("opening %s: %v", url, err)
	}
	return resp.Status
}

// eval runs a JavaScript expression in the page and decodes its value.
func eval[T any](t *testing.T, tb *tab, expr string) T {
	t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

func getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// syncBuffer is a bytes.Buffer safe for a process's output and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.TrimSpace(s.b.String())
}
