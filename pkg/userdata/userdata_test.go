package userdata

import (
	"encoding/base64"
	"strings"
	"testing"
)

func params() Params {
	return Params{App: "whatsthetime", Region: "us-east-1", Bucket: "wtt-whatsthetime-123456789012-us-east-1",
		Key: "timeserver/0123456789abcdef/whatsthetime-linux-amd64", SHA256: strings.Repeat("ab", 32)}
}

func TestRenderInstallsTheServerAsAService(t *testing.T) {
	s, err := Render(params())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"#!/bin/bash",
		`SRC="s3://wtt-whatsthetime-123456789012-us-east-1/timeserver/0123456789abcdef/whatsthetime-linux-amd64"`,
		`aws s3 cp --only-show-errors --region "us-east-1"`,
		strings.Repeat("ab", 32) + "  $BIN.download\" | sha256sum --check",
		"ExecStart=/usr/local/bin/whatsthetime --addr :80",
		"AmbientCapabilities=CAP_NET_BIND_SERVICE",
		"systemctl enable --now whatsthetime.service",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("user data lacks %q", want)
		}
	}
	if len(s) > MaxBytes {
		t.Errorf("user data is %d bytes, over %d", len(s), MaxBytes)
	}
	if strings.Contains(s, "{{") {
		t.Error("user data has an unrendered template action")
	}
	dec, err := base64.StdEncoding.DecodeString(Base64(s))
	if err != nil || string(dec) != s {
		t.Error("Base64 does not round-trip")
	}
}

// Values reach a root shell at boot: anything that could escape its quotes
// is refused rather than escaped.
func TestRenderRefusesUnsafeValues(t *testing.T) {
	for field, mutate := range map[string]func(*Params){
		"bucket": func(p *Params) { p.Bucket = `b"; rm -rf /; "` },
		"key":    func(p *Params) { p.Key = "a key with $(spaces)" },
		"sha256": func(p *Params) { p.SHA256 = "not-a-hash" },
		"region": func(p *Params) { p.Region = "" },
		"app":    func(p *Params) { p.App = "App`id`" },
	} {
		p := params()
		mutate(&p)
		if _, err := Render(p); err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: Render accepted an unsafe value or did not name the field: %v", field, err)
		}
	}
}
