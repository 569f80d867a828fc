package browser

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
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
}
