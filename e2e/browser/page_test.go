package browser

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestTimePage loads the page of the real time server in headless Chromium
// and checks it as a visitor would use it.
func TestTimePage(t *testing.T) {
	browser := startBrowser(t) // first: without a browser, fail before building
	srv := startTimeServer(t)

	t.Run("loads clean and tells Seoul's time", func(t *testing.T) {
		tb := newTab(t, browser)
		if code := tb.open(t, srv.url+"/?tz=Asia/Seoul"); code != 200 {
			t.Fatalf("GET /?tz=Asia/Seoul: status %d, want 200", code)
		}
		before, err := srv.apiTime(tb.ctx, "Asia/Seoul")
		if err != nil {
			t.Fatal(err)
		}
		shown := readClock(t, tb)
		after, err := srv.apiTime(tb.ctx, "Asia/Seoul")
		if err != nil {
			t.Fatal(err)
		}
		wantZone := fmt.Sprintf("Asia/Seoul · %s · UTC%s", before.Abbreviation, before.Offset)
		if shown.zone != wantZone {
			t.Errorf("zone line %q, want %q (from /api/time)", shown.zone, wantZone)
		}
		at, err := shown.time(before.Offset)
		if err != nil {
			t.Fatal(err)
		}
		// /api/time read just before and just after the page: the page's
		// clock (whole seconds) must be within a second of that span.
		lo := time.UnixMilli(before.UnixMillis).Truncate(time.Second).Add(-time.Second)
		hi := time.UnixMilli(after.UnixMillis).Add(time.Second)
		if at.Before(lo) || at.After(hi) {
			t.Errorf("page shows %s, /api/time said %s to %s: more than a second apart",
				at.Format(time.RFC3339), before.Time, after.Time)
		}
		t.Logf("page %s; /api/time %s .. %s", at.Format(time.RFC3339), before.Time, after.Time)
		tb.expectClean(t, nil)
	})

	t.Run("the clock advances by itself", func(t *testing.T) {
		tb := newTab(t, browser)
		tb.open(t, srv.url+"/?tz=Asia/Seoul")
		// A marker that a reload would lose: the page must tick in place.
		eval[bool](t, tb, `window.__sameDocument = true`)
		first := readClock(t, tb)
		time.Sleep(2500 * time.Millisecond)
		second := readClock(t, tb)
		api, err := srv.apiTime(tb.ctx, "Asia/Seoul")
		if err != nil {
			t.Fatal(err)
		}
		t1, err := first.time(api.Offset)
		if err != nil {
			t.Fatal(err)
		}
		t2, err := second.time(api.Offset)
		if err != nil {
			t.Fatal(err)
		}
		if !t2.After(t1) {
			t.Errorf("after 2.5 s the page still shows %s (was %s)", second.clock, first.clock)
		}
		now := time.UnixMilli(api.UnixMillis)
		if d := now.Sub(t2); d < -time.Second || d > 2*time.Second {
			t.Errorf("the ticking clock shows %s, /api/time says %s: it drifted", t2.Format(time.RFC3339), api.Time)
		}
		if !eval[bool](t, tb, `window.__sameDocument === true`) {
			t.Error("the page reloaded instead of ticking in place")
		}
		t.Logf("clock %s -> %s in 2.5 s", first.clock, second.clock)
		tb.expectClean(t, nil)
	})

	t.Run("the zone field suggests zones and shows the one picked", func(t *testing.T) {
		tb := newTab(t, browser)
		tb.open(t, srv.url+"/")
		if n := eval[int](t, tb, `document.querySelectorAll("#zones option").length`); n != 0 {
			t.Fatalf("%d suggestions before the field is used; the list should load on first focus", n)
		}
		var zones struct {
			Count int      `json:"count"`
			Zones []string `json:"zones"`
		}
		if err := getJSON(tb.ctx, srv.url+"/api/zones", &zones); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(tb.ctx, chromedp.Focus(chromedp.ID("tz"))); err != nil {
			t.Fatal(err)
		}
		n := waitFor(t, tb, `document.querySelectorAll("#zones option").length`, func(n int) bool { return n > 0 })
		if n != zones.Count {
			t.Errorf("%d suggestions after focus, /api/zones has %d", n, zones.Count)
		}
		// What the browser offers under "Asia/Se": the datalist options
		// the typed text matches.
		matches := eval[[]string](t, tb,
			`Array.from(document.querySelectorAll("#zones option")).map(o => o.value).filter(v => v.startsWith("Asia/Se"))`)
		if !contains(matches, "Asia/Seoul") {
			t.Errorf("typing Asia/Se offers %q, want Asia/Seoul among them", matches)
		}

		// Type a zone and submit, as a visitor would.
		err := chromedp.Do(tb.ctx,
			chromedp.Clear(chromedp.ID("tz")),
			chromedp.SendKeys(chromedp.ID("tz"), "Europe/Berlin"),
		)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := chromedp.RunResponse(tb.ctx, chromedp.Click(chromedp.CSS(`button[type="submit"]`)))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != 200 {
			t.Errorf("submitting Europe/Berlin: status %d", resp.Status)
		}
		u, err := url.Parse(resp.URL)
		if err != nil {
			t.Fatal(err)
		}
		if got := u.Query().Get("tz"); got != "Europe/Berlin" {
			t.Errorf("submitted tz=%q, want Europe/Berlin (URL %s)", got, resp.URL)
		}
		if shown := readClock(t, tb); !strings.HasPrefix(shown.zone, "Europe/Berlin · ") {
			t.Errorf("after submitting Europe/Berlin the page shows zone %q", shown.zone)
		}
		tb.expectClean(t, nil)
	})

	t.Run("an unknown zone shows the error page", func(t *testing.T) {
		tb := newTab(t, browser)
		code := tb.open(t, srv.url+"/?tz=Mars/Olympus_Mons")
		if code != 400 {
			t.Errorf("status %d, want 400", code)
		}
		errText := eval[string](t, tb, `(document.querySelector(".err") || {}).textContent || ""`)
		if !strings.Contains(errText, `unknown time zone "Mars/Olympus_Mons"`) {
			t.Errorf("error text %q, want it to name the unknown zone", errText)
		}
		if eval[bool](t, tb, `document.getElementById("clock") !== null`) {
			t.Error("the error page shows a clock")
		}
		if title := eval[string](t, tb, `document.title`); !strings.HasPrefix(title, "Unknown time zone") {
			t.Errorf("title %q, want it to start with Unknown time zone", title)
		}
		// The field keeps what was typed, so the visitor can correct it.
		if v := eval[string](t, tb, `document.getElementById("tz").value`); v != "Mars/Olympus_Mons" {
			t.Errorf("zone field holds %q after the error, want the typed Mars/Olympus_Mons", v)
		}
		// Chromium logs a 400 document as a failed resource; that is the
		// status asked for, not a fault of the page.
		tb.expectClean(t, func(m chromedp.ConsoleMessage) bool {
			return m.Source == "network" && strings.Contains(m.Text, "status of 400")
		})
	})

	t.Run("usable at phone width", func(t *testing.T) {
		tb := newTab(t, browser)
		if err := chromedp.Do(tb.ctx, chromedp.EmulateViewport(375, 667, chromedp.EmulateMobile)); err != nil {
			t.Fatal(err)
		}
		tb.open(t, srv.url+"/?tz=America/North_Dakota/New_Salem")
		checkFits(t, tb)
		tb.open(t, srv.url+"/?tz=Mars/Olympus_Mons")
		checkFits(t, tb)
	})

	t.Run("screenshots", func(t *testing.T) {
		screenshot(t, browser, srv.url+"/?tz=Asia/Seoul", 960, 600, false, "timepage.png")
		screenshot(t, browser, srv.url+"/?tz=Asia/Seoul", 375, 667, true, "timepage-phone.png")
	})
}

// checkFits fails the test for every layout problem fitProblems finds.
func checkFits(t *testing.T, tb *tab) {
	t.Helper()
	for _, p := range fitProblems(t, tb) {
		t.Error(p)
	}
}

// fitProblems lists what makes the page unusable at the emulated phone
// width: wider than the viewport, anything sticking out of it, or the zone
// field or its button off screen, too small to tap, or in a font small
// enough that a phone zooms in on focus.
func fitProblems(t *testing.T, tb *tab) []string {
	t.Helper()
	var problems []string
	type layout struct {
		ViewportWidth  float64  `json:"viewportWidth"`
		ViewportHeight float64  `json:"viewportHeight"`
		ScrollWidth    float64  `json:"scrollWidth"`
		Overflowing    []string `json:"overflowing"`
		Input          box      `json:"input"`
		Button         box      `json:"button"`
		InputFontPx    float64  `json:"inputFontPx"`
	}
	l := eval[layout](t, tb, `(() => {
  const w = document.documentElement.clientWidth;
  const box = el => { const r = el.getBoundingClientRect(); return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width, height: r.height}; };
  const overflowing = Array.from(document.body.querySelectorAll("*"))
    .filter(el => { const r = el.getBoundingClientRect(); return r.width > 0 && (r.left < -0.5 || r.right > w + 0.5); })
    .map(el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (el.className ? "." + el.className : "") +
      " spans " + Math.round(el.getBoundingClientRect().left) + ".." + Math.round(el.getBoundingClientRect().right));
  const input = document.getElementById("tz");
  return {
    viewportWidth: w, viewportHeight: window.innerHeight,
    scrollWidth: document.documentElement.scrollWidth,
    overflowing: overflowing,
    input: box(input), button: box(document.querySelector('button[type="submit"]')),
    inputFontPx: parseFloat(getComputedStyle(input).fontSize),
  };
})()`)
	if l.ViewportWidth != 375 {
		t.Fatalf("viewport is %v px wide, want the emulated 375", l.ViewportWidth)
	}
	if l.ScrollWidth > l.ViewportWidth {
		problems = append(problems, fmt.Sprintf("the page is %v px wide in a %v px viewport: it scrolls sideways", l.ScrollWidth, l.ViewportWidth))
	}
	for _, o := range l.Overflowing {
		problems = append(problems, fmt.Sprintf("overflows the %v px viewport: %s", l.ViewportWidth, o))
	}
	for name, b := range map[string]box{"zone field": l.Input, "Show button": l.Button} {
		if !b.inside(l.ViewportWidth, l.ViewportHeight) {
			problems = append(problems, fmt.Sprintf("the %s is not fully on screen without scrolling: %+v in %vx%v", name, b, l.ViewportWidth, l.ViewportHeight))
		}
		if b.Height < 24 || b.Width < 44 {
			problems = append(problems, fmt.Sprintf("the %s is %vx%v px: too small to tap", name, b.Width, b.Height))
		}
	}
	if l.InputFontPx < 16 {
		problems = append(problems, fmt.Sprintf("the zone field's font is %v px; phones zoom in on focus below 16 px", l.InputFontPx))
	}
	return problems
}

type box struct {
	Left, Right, Top, Bottom, Width, Height float64
}

func (b box) inside(w, h float64) bool {
	return b.Width > 0 && b.Height > 0 && b.Left >= 0 && b.Right <= w && b.Top >= 0 && b.Bottom <= h
}

// shownClock is what the page displays.
type shownClock struct{ clock, date, zone string }

func readClock(t *testing.T, tb *tab) shownClock {
	t.Helper()
	v := eval[[]string](t, tb, `[document.getElementById("clock").textContent,
  document.getElementById("date").textContent,
  document.querySelector(".zone").textContent]`)
	if len(v) != 3 {
		t.Fatalf("reading the clock: got %q", v)
	}
	return shownClock{clock: v[0], date: v[1], zone: v[2]}
}

// time is the instant the page shows, read in the zone's offset ("+09:00").
func (c shownClock) time(offset string) (time.Time, error) {
	t, err := time.Parse("Monday, 2 January 2006 15:04:05 -07:00", c.date+" "+c.clock+" "+offset)
	if err != nil {
		return time.Time{}, fmt.Errorf("the page shows %q %q, not a date and a time: %v", c.date, c.clock, err)
	}
	return t, nil
}

// waitFor evaluates expr until ok accepts its value (at most 10 s).
func waitFor[T any](t *testing.T, tb *tab, expr string, ok func(T) bool) T {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v := eval[T](t, tb, expr)
		if ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited 10 s for %s; last value %v", expr, v)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
