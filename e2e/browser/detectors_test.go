package browser

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestDetectorsSeeProblems is the control for TestTimePage's "no console
// error, no CSP violation": a page that logs an error, throws, and carries a
// script its CSP forbids must be reported on each count, or a clean result
// from the real page would prove nothing.
func TestDetectorsSeeProblems(t *testing.T) {
	const allowed = `console.error("logged on purpose"); setTimeout(function () { throw new Error("thrown on purpose") }, 0);`
	const forbidden = `document.title = "the forbidden script ran";`
	sum := sha256.Sum256([]byte(allowed))
	csp := "default-src 'none'; script-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/wide" {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte(widePage))
			return
		}
		w.Header().Set("Content-Security-Policy", csp)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(`<!doctype html><title>control</title><link rel="icon" href="data:,">` +
			`<script>` + allowed + `</script><script>` + forbidden + `</script><p>control page</p>`))
	}))
	defer srv.Close()

	browser := startBrowser(t)
	tb := newTab(t, browser)
	tb.open(t, srv.URL+"/")
	waitFor(t, tb, `window.__cspViolations.length`, func(n int) bool { return n > 0 })
	problems := strings.Join(tb.problems(t, nil), "\n")
	t.Logf("reported:\n%s", problems)
	for _, want := range []string{"logged on purpose", "thrown on purpose", "CSP violation: script-src"} {
		if !strings.Contains(problems, want) {
			t.Errorf("the detectors missed %q", want)
		}
	}
	if title := eval[string](t, tb, `document.title`); title != "control" {
		t.Errorf("the forbidden script ran (title %q): the CSP was not enforced", title)
	}

	// The phone-width check, on a page built to fail it: a fixed 600 px
	// banner, and a zone field too small and off to the right.
	phone := newTab(t, browser)
	if err := chromedp.Do(phone.ctx, chromedp.EmulateViewport(375, 667, chromedp.EmulateMobile)); err != nil {
		t.Fatal(err)
	}
	phone.open(t, srv.URL+"/wide")
	fit := strings.Join(fitProblems(t, phone), "\n")
	t.Logf("reported at 375 px:\n%s", fit)
	for _, want := range []string{"scrolls sideways", "overflows the 375 px viewport: div#banner", "zone field is not fully on screen", "too small to tap", "font is 12 px"} {
		if !strings.Contains(fit, want) {
			t.Errorf("the phone-width check missed %q", want)
		}
	}
}

// widePage breaks every rule fitProblems checks, at 375 px.
const widePage = `<!doctype html><meta name="viewport" content="width=device-width,initial-scale=1">
<link rel="icon" href="data:,"><title>wide</title>
<div id="banner" style="width:600px">a banner too wide for a phone</div>
<form><input id="tz" style="margin-left:340px;width:30px;font-size:12px"><button type="submit" style="font-size:8px;padding:0">Go</button></form>`
