// Package userdata renders the boot script that installs the time server on
// an Amazon Linux 2023 instance as a systemd service.
package userdata

import (
	"bytes"
	_ "embed"
	"encoding/base64"
	"fmt"
	"regexp"
	"text/template"
)

// MaxBytes is EC2's limit on user data, before base64 encoding.
const MaxBytes = 16 * 1024

//go:embed boot.sh.tmpl
var bootScript string

var tmpl = template.Must(template.New("boot").Option("missingkey=error").Parse(bootScript))

// Params says where the instance fetches the server binary. The binary lives
// in the app's own S3 bucket, reached through the VPC's S3 gateway endpoint,
// so instances without a public IPv4 (and without a NAT gateway) still boot.
type Params struct {
	App    string
	Region string
	Bucket string
	Key    string
	SHA256 string
	Port   int
}

var (
	safeName   = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]*$`)
	safeKey    = regexp.MustCompile(`^[A-Za-z0-9/._-]+$`)
	safeSHA256 = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// Render returns the script; the values are checked so nothing reaches a
// shell that could break out of its quotes.
func Render(p Params) (string, error) {
	if p.Port == 0 {
		p.Port = 80
	}
	for field, ok := range map[string]bool{
		"app":    safeName.MatchString(p.App),
		"region": safeName.MatchString(p.Region),
		"bucket": safeName.MatchString(p.Bucket),
		"key":    safeKey.MatchString(p.Key),
		"sha256": safeSHA256.MatchString(p.SHA256),
	} {
		if !ok {
			return "", fmt.Errorf("user data: %s is missing or has characters a boot script cannot carry", field)
		}
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, p); err != nil {
		return "", err
	}
	if b.Len() > MaxBytes {
		return "", fmt.Errorf("user data is %d bytes, over EC2's %d-byte limit", b.Len(), MaxBytes)
	}
	return b.String(), nil
}

// Base64 is how RunInstances and launch templates take user data.
func Base64(script string) string { return base64.StdEncoding.EncodeToString([]byte(script)) }
