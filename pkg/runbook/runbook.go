// Package runbook reads a runbook: an ordered list of ladder operations
// (up, migrate, scale) that `wtt run -f` plans as one and executes step by
// step.
package runbook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"sigs.k8s.io/yaml"

	"github.com/whatsthetime/wtt/pkg/cmdutil"
	"github.com/whatsthetime/wtt/pkg/stage"
)

// Runbook is the file format. Unknown fields are refused, so a typo never
// silently drops an option.
type Runbook struct {
	// App, when set, must match --app: a runbook written for one app is
	// not run against another by accident.
	App   string  `json:"app,omitempty"`
	Steps []Entry `json:"steps"`
}

// Entry is one operation; exactly one of Up, Migrate, Scale is set.
type Entry struct {
	Name    string       `json:"name,omitempty"`
	Up      *UpSpec      `json:"up,omitempty"`
	Migrate *MigrateSpec `json:"migrate,omitempty"`
	Scale   *ScaleSpec   `json:"scale,omitempty"`
}

type UpSpec struct {
	InstanceType string `json:"instanceType,omitempty"`
}

// MigrateSpec mirrors `wtt migrate` flags, in camelCase.
type MigrateSpec struct {
	To            string   `json:"to"`
	DNSName       string   `json:"dnsName,omitempty"`
	TTL           int64    `json:"ttl,omitempty"`
	RecordType    string   `json:"recordType,omitempty"`
	AZs           int      `json:"azs,omitempty"`
	Min           int32    `json:"min,omitempty"`
	Max           int32    `json:"max,omitempty"`
	Desired       int32    `json:"desired,omitempty"`
	CPUTarget     float64  `json:"cpuTarget,omitempty"`
	Term          string   `json:"term,omitempty"`
	OfferingClass string   `json:"offeringClass,omitempty"`
	Payment       string   `json:"payment,omitempty"`
	MaxUpfront    *float64 `json:"maxUpfront,omitempty"`
}

type ScaleSpec struct {
	Vertical   string `json:"vertical,omitempty"`
	Horizontal int    `json:"horizontal,omitempty"`
}

// Kind names the operation of an entry.
func (e Entry) Kind() string {
	switch {
	case e.Up != nil:
		return "up"
	case e.Migrate != nil:
		return "migrate --to=" + e.Migrate.To
	case e.Scale != nil && e.Scale.Vertical != "":
		return "scale --vertical " + e.Scale.Vertical
	case e.Scale != nil:
		return fmt.Sprintf("scale --horizontal %d", e.Scale.Horizontal)
	}
	return "?"
}

// Title is the entry's name, or its operation.
func (e Entry) Title() string {
	if e.Name != "" {
		return e.Name
	}
	return e.Kind()
}

// Load reads and checks a runbook file; every problem is bad input.
func Load(path string) (*Runbook, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, cmdutil.Usagef("pass the path of a runbook YAML file (see docs/runbooks/whatsthetime.yaml)", "reading runbook: %v", err)
	}
	return Parse(b)
}

// Parse decodes and checks a runbook.
func Parse(b []byte) (*Runbook, error) {
	const fix = "see docs/runbooks/whatsthetime.yaml for the format"
	js, err := yaml.YAMLToJSON(b)
	if err != nil {
		return nil, cmdutil.Usagef(fix, "runbook is not valid YAML: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	var rb Runbook
	if err := dec.Decode(&rb); err != nil {
		return nil, cmdutil.Usagef(fix, "runbook: %v", err)
	}
	if len(rb.Steps) == 0 {
		return nil, cmdutil.Usagef(fix, "runbook has no steps")
	}
	for i, e := range rb.Steps {
		n := 0
		for _, set := range []bool{e.Up != nil, e.Migrate != nil, e.Scale != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			return nil, cmdutil.Usagef("give each step exactly one of up, migrate, scale", "runbook step %d (%s) has %d operations", i+1, e.Title(), n)
		}
		if m := e.Migrate; m != nil {
			if _, err := stage.Parse(m.To); err != nil {
				return nil, cmdutil.Usagef("use one of: "+stage.Names(), "runbook step %d: %v", i+1, err)
			}
		}
		if s := e.Scale; s != nil {
			if (s.Vertical == "") == (s.Horizontal == 0) {
				return nil, cmdutil.Usagef("set either vertical: TYPE or horizontal: N", "runbook step %d: scale needs exactly one of vertical, horizontal", i+1)
			}
			if s.Horizontal < 0 || s.Horizontal > 100 {
				return nil, cmdutil.Usagef("use a count between 1 and 100", "runbook step %d: horizontal %d is out of range", i+1, s.Horizontal)
			}
		}
	}
	return &rb, nil
}
