package runbook

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/whatsthetime/wtt/pkg/cmdutil"
)

func TestTheShippedRunbookParses(t *testing.T) {
	rb, err := Load(filepath.Join("..", "..", "docs", "runbooks", "whatsthetime.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range rb.Steps {
		kinds = append(kinds, e.Kind())
	}
	got := strings.Join(kinds, ", ")
	for _, want := range []string{"up", "migrate --to=eip", "scale --vertical m5.large", "migrate --to=dns", "migrate --to=alb", "migrate --to=reserved"} {
		if !strings.Contains(got, want) {
			t.Errorf("the story lacks %q: %s", want, got)
		}
	}
}

func TestParseRefusesBadRunbooks(t *testing.T) {
	for name, doc := range map[string]string{
		"not yaml":        "steps: [",
		"no steps":        "app: x\n",
		"unknown field":   "steps:\n- migrate: {to: eip, ttll: 5}\n",
		"unknown stage":   "steps:\n- migrate: {to: kubernetes}\n",
		"two operations":  "steps:\n- up: {}\n  migrate: {to: eip}\n",
		"no operation":    "steps:\n- name: nothing\n",
		"scale both ways": "steps:\n- scale: {vertical: m5.large, horizontal: 2}\n",
		"scale neither":   "steps:\n- scale: {}\n",
		"absurd count":    "steps:\n- scale: {horizontal: 1000}\n",
	} {
		_, err := Parse([]byte(doc))
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if cmdutil.ExitCode(err) != cmdutil.ExitBadInput {
			t.Errorf("%s: exit %d, want 2", name, cmdutil.ExitCode(err))
		}
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); cmdutil.ExitCode(err) != cmdutil.ExitBadInput {
		t.Errorf("missing file: exit %d (%v), want 2", cmdutil.ExitCode(err), err)
	}
}
