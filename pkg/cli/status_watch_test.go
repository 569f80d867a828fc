package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/pricing"
	"github.com/whatsthetime/wtt/pkg/printers"
	"github.com/whatsthetime/wtt/pkg/stage"
)

func watchSample(st stage.Stage) *printers.Status {
	s := &observe.State{App: "whatsthetime", Region: "us-east-1", Instances: []observe.Instance{}, EIPs: []observe.EIP{}, Reserved: []observe.Reserved{}}
	return printers.NewStatus(s, stage.Result{Stage: st}, pricing.Estimate{})
}

// On a terminal each change redraws the screen from its top; an unchanged
// look prints nothing.
func TestWatchRedrawsOnATerminal(t *testing.T) {
	var b bytes.Buffer
	w := &statusWatch{out: &b, format: "table", tty: true, interval: 5e9}
	for _, st := range []stage.Stage{stage.Single, stage.Single, stage.EIP} {
		if err := w.show(watchSample(st)); err != nil {
			t.Fatal(err)
		}
	}
	out := b.String()
	if n := strings.Count(out, "\033[H\033[2J"); n != 2 {
		t.Errorf("%d redraws for two distinct statuses, want 2:\n%q", n, out)
	}
	last := out[strings.LastIndex(out, "\033[H\033[2J"):]
	if !strings.Contains(last, "Stage:   eip") || strings.Contains(last, "Stage:   single") {
		t.Errorf("the last screen is not the newest status alone:\n%s", last)
	}
}

// Off a terminal nothing is erased: each change is appended under its time;
// with -o json each change is one line holding one document.
func TestWatchAppendsOffATerminal(t *testing.T) {
	var table, js bytes.Buffer
	tw := &statusWatch{out: &table, format: "table"}
	jw := &statusWatch{out: &js, format: "json"}
	for _, st := range []stage.Stage{stage.Single, stage.EIP, stage.EIP} {
		if err := tw.show(watchSample(st)); err != nil {
			t.Fatal(err)
		}
		if err := jw.show(watchSample(st)); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Contains(table.String(), "\033") {
		t.Errorf("escape codes off a terminal:\n%q", table.String())
	}
	if n := strings.Count(table.String(), "\n--- ") + strings.Count(table.String()[:4], "--- "); n != 2 {
		t.Errorf("%d appended statuses, want 2:\n%s", n, table.String())
	}
	lines := strings.Split(strings.TrimSpace(js.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"stage":"single"`) || !strings.Contains(lines[1], `"stage":"eip"`) {
		t.Errorf("JSON stream is not one document per change:\n%s", js.String())
	}
}
