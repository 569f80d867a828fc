package awsclient

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// clientPrefix maps the Clients fields (and the lease's SSM interface) to
// IAM prefixes, to read calls out of the source.
var clientPrefix = map[string]string{
	"EC2": "ec2", "ELB": "elasticloadbalancing", "AutoScaling": "autoscaling", "Route53": "route53",
	"SSM": "ssm", "IAM": "iam", "S3": "s3", "STS": "sts", "Quotas": "servicequotas", "api": "ssm",
}

var callPattern = regexp.MustCompile(`\.(EC2|ELB|AutoScaling|Route53|SSM|IAM|S3|STS|Quotas|api)\.([A-Z][A-Za-z0-9]+)\(`)

// sourceMutatingCalls reads every mutating AWS call out of wtt's own code.
func sourceMutatingCalls(t *testing.T) map[string][]string {
	t.Helper()
	found := map[string][]string{}
	err := filepath.WalkDir("..", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		if strings.Contains(path, "faultproxy") || strings.Contains(path, "emulatortest") {
			return nil // test tools, not wtt's calls
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range callPattern.FindAllStringSubmatch(string(b), -1) {
			action := clientPrefix[m[1]] + ":" + m[2]
			if IsMutating(action) && !slices.Contains(found[action], path) {
				found[action] = append(found[action], path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) < 40 {
		t.Fatalf("found only %d mutating calls in the source; the scan is broken", len(found))
	}
	return found
}

// Every mutating call wtt makes must say how it survives a lost answer.
func TestEveryMutatingCallIsListedWithItsSafety(t *testing.T) {
	inCode := sourceMutatingCalls(t)
	for action, files := range inCode {
		if _, ok := MutatingCalls[action]; !ok {
			t.Errorf("%s (called in %v) is not in awsclient.MutatingCalls: say how it survives a retry after a lost answer (token, unique name, adopt on conflict, idempotent, gone is done, or no blind retry + reconcile)", action, files)
		}
	}
	for action, cs := range MutatingCalls {
		if _, ok := inCode[action]; !ok {
			t.Errorf("%s is listed in awsclient.MutatingCalls but no longer called: remove it", action)
		}
		if cs.Safety == "" || cs.How == "" {
			t.Errorf("%s: safety and how must both be said", action)
		}
	}
}

const docsPath = "../../docs/reliability.md"

// safetyTable is the Markdown table docs/reliability.md carries.
func safetyTable() string {
	var b strings.Builder
	b.WriteString("| call | safe against a lost answer by | how |\n|---|---|---|\n")
	actions := MutatingActions()
	order := []Safety{Reconcile, Token, UniqueName, AdoptOnConflict, Idempotent, GoneIsDone}
	sort.SliceStable(actions, func(i, j int) bool {
		return slices.Index(order, MutatingCalls[actions[i]].Safety) < slices.Index(order, MutatingCalls[actions[j]].Safety)
	})
	for _, a := range actions {
		cs := MutatingCalls[a]
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", a, cs.Safety, cs.How)
	}
	return b.String()
}

const tableStart, tableEnd = "<!-- mutating-calls:start -->", "<!-- mutating-calls:end -->"

// docs/reliability.md lists exactly the calls above; WTT_UPDATE_DOCS=1
// rewrites its table.
func TestReliabilityDocListsEveryMutatingCall(t *testing.T) {
	b, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i, j := strings.Index(doc, tableStart), strings.Index(doc, tableEnd)
	if i < 0 || j < i {
		t.Fatalf("%s has no %s ... %s section", docsPath, tableStart, tableEnd)
	}
	want := tableStart + "\n" + safetyTable() + tableEnd
	got := doc[i : j+len(tableEnd)]
	if got == want {
		return
	}
	if os.Getenv("WTT_UPDATE_DOCS") == "1" {
		if err := os.WriteFile(docsPath, []byte(doc[:i]+want+doc[j+len(tableEnd):]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("the table of mutating calls in %s is out of date; run: WTT_UPDATE_DOCS=1 go test ./pkg/awsclient -run TestReliabilityDoc", docsPath)
}
