// Package browser loads the WhatsTheTime.com page, served by the real time
// server binary, in headless Chromium and checks what a visitor sees: no
// console error or CSP violation, the right time in the asked zone, a clock
// that ticks, zone suggestions, the error page, and a layout that fits a
// phone. Its tests need Debian's chromium package (apt-get install -y
// chromium); without it they fail and say so, unless WTT_SKIP_BROWSER=1.
// The tests also take the screenshots shown in docs/timeserver.md.
package browser
