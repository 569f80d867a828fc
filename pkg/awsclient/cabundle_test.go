package awsclient

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPlainHTTPOnly(t *testing.T) {
	for _, tc := range []struct {
		name, flag, env, ignore, service string
		want                             bool
	}{
		{name: "flag http", flag: "http://127.0.0.1:5000", want: true},
		{name: "flag https", flag: "https://localhost.localstack.cloud:4566"},
		{name: "env http", env: "http://127.0.0.1:5000", want: true},
		{name: "flag over env", flag: "https://example.com", env: "http://127.0.0.1:5000"},
		{name: "env ignored: AWS itself", env: "http://127.0.0.1:5000", ignore: "true"},
		{name: "a service elsewhere", env: "http://127.0.0.1:5000", service: "https://s3.example.com"},
		{name: "nothing set: AWS itself"},
		{name: "upper-case scheme", flag: "HTTP://127.0.0.1:5000", want: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("AWS_ENDPOINT_URL", tc.env)
			t.Setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", tc.ignore)
			if tc.service != "" {
				t.Setenv("AWS_ENDPOINT_URL_S3", tc.service)
			}
			if got := plainHTTPOnly(tc.flag); got != tc.want {
				t.Errorf("plainHTTPOnly(%q) with AWS_ENDPOINT_URL=%q = %v, want %v", tc.flag, tc.env, got, tc.want)
			}
		})
	}
}

// Against a plain-HTTP endpoint the SDK never reads the bundle (a broken
// one loads), and the variable is back afterwards; against anything else
// it still reads it (and refuses the broken one, as it should).
func TestCABundleIsSkippedOnlyWhenNoTLSIsMade(t *testing.T) {
	broken := filepath.Join(t.TempDir(), "bundle.pem")
	if err := os.WriteFile(broken, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(caBundleVar, broken)
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	load := func(endpoint string) error {
		_, err := Load(context.Background(), Options{Region: "us-east-1", EndpointURL: endpoint})
		return err
	}
	if err := load("http://127.0.0.1:1"); err != nil {
		t.Errorf("plain HTTP: the bundle was read: %v", err)
	}
	if got := os.Getenv(caBundleVar); got != broken {
		t.Errorf("%s = %q after the load, want it back as %q", caBundleVar, got, broken)
	}
	if err := load("https://127.0.0.1:1"); err == nil {
		t.Error("HTTPS: a broken bundle loaded, so it was not read")
	}
}

// BenchmarkLoadWithCABundle measures a configuration load with a real CA
// bundle side by side: parsed (an HTTPS endpoint) and hidden (a plain-HTTP
// one). go test -run '^$' -bench LoadWithCABundle ./pkg/awsclient/
func BenchmarkLoadWithCABundle(b *testing.B) {
	const bundle = "/etc/ssl/certs/ca-certificates.crt"
	if _, err := os.Stat(bundle); err != nil {
		b.Skipf("no system CA bundle at %s", bundle)
	}
	b.Setenv(caBundleVar, bundle)
	b.Setenv("AWS_ENDPOINT_URL", "")
	b.Setenv("AWS_ACCESS_KEY_ID", "testing")
	b.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	for _, endpoint := range []string{"https://127.0.0.1:1", "http://127.0.0.1:1"} {
		b.Run(strings.SplitN(endpoint, ":", 2)[0], func(b *testing.B) {
			for b.Loop() {
				if _, err := Load(context.Background(), Options{Region: "us-east-1", EndpointURL: endpoint}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
