package awsclient

import (
	"os"
	"strings"
)

// caBundleVar names the PEM file of extra root certificates the SDK trusts.
const caBundleVar = "AWS_CA_BUNDLE"

// hideUnusedCABundle hides AWS_CA_BUNDLE from the SDK while it loads the
// configuration when every call goes to a plain-HTTP endpoint (an
// emulator), and returns what puts it back.
//
// The SDK parses every certificate in the bundle as it loads, whether or
// not a TLS connection is ever made: Debian's bundle is 144 certificates,
// 4.2 ms a load against 0.03 ms without (a side-by-side benchmark), a fifth
// of a short wtt command's CPU on a machine that sets the variable. It has
// no option to skip that, so the variable is unset for the load alone.
// Anything that could still reach a TLS endpoint keeps the bundle: a
// base endpoint that is not plain HTTP, a service-specific endpoint
// variable, or none set (AWS itself, or an endpoint_url in the profile).
func hideUnusedCABundle(endpointURL string) (restore func()) {
	bundle, set := os.LookupEnv(caBundleVar)
	if !set || !plainHTTPOnly(endpointURL) {
		return func() {}
	}
	os.Unsetenv(caBundleVar)
	return func() { os.Setenv(caBundleVar, bundle) }
}

// plainHTTPOnly reports whether every AWS call goes to endpointURL (or,
// without one, AWS_ENDPOINT_URL) over plain HTTP.
func plainHTTPOnly(endpointURL string) bool {
	base := endpointURL
	if base == "" && !strings.EqualFold(os.Getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"), "true") {
		base = os.Getenv("AWS_ENDPOINT_URL")
	}
	if !strings.HasPrefix(strings.ToLower(base), "http://") {
		return false
	}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AWS_ENDPOINT_URL_") {
			return false
		}
	}
	return true
}
