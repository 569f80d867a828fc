// Package imds reads which EC2 instance and Availability Zone the process
// runs in from the EC2 instance metadata service, version 2 only: a PUT for a
// session token, then GETs that present it.
package imds

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// DefaultEndpoint is the link-local address of the metadata service.
const DefaultEndpoint = "http://169.254.169.254"

const (
	tokenPath   = "/latest/api/token"
	idPath      = "/latest/meta-data/instance-id"
	azPath      = "/latest/meta-data/placement/availability-zone"
	tokenHeader = "X-aws-ec2-metadata-token"
	ttlHeader   = "X-aws-ec2-metadata-token-ttl-seconds"
	// The token is used for two GETs right away; a short life is enough.
	tokenTTL = "60"
	maxBody  = 512
)

// Identity says where the process runs. A field is empty when unknown.
type Identity struct {
	InstanceID       string
	AvailabilityZone string
}

// Known reports whether anything was learnt.
func (id Identity) Known() bool { return id.InstanceID != "" || id.AvailabilityZone != "" }

// NewHTTPClient returns a client for the metadata service: no proxy (the
// service is link-local, and HTTP_PROXY must not see the token) and a
// timeout for each request.
func NewHTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: timeout}).DialContext,
			MaxIdleConns:        1,
			IdleConnTimeout:     time.Second,
			DisableCompression:  true,
			TLSHandshakeTimeout: timeout,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Fetch asks the service at endpoint (DefaultEndpoint on EC2) once. It returns
// what it could learn; the error is non-nil only when it learnt nothing.
func Fetch(ctx context.Context, client *http.Client, endpoint string) (Identity, error) {
	endpoint = strings.TrimRight(endpoint, "/")
	token, err := call(ctx, client, http.MethodPut, endpoint+tokenPath, ttlHeader, tokenTTL)
	if err != nil {
		return Identity{}, fmt.Errorf("imds token: %w", err)
	}
	var id Identity
	idErr, azErr := error(nil), error(nil)
	id.InstanceID, idErr = call(ctx, client, http.MethodGet, endpoint+idPath, tokenHeader, token)
	id.AvailabilityZone, azErr = call(ctx, client, http.MethodGet, endpoint+azPath, tokenHeader, token)
	if !id.Known() {
		return id, fmt.Errorf("imds: instance-id: %w; availability-zone: %w", idErr, azErr)
	}
	return id, nil
}

// Resolve calls Fetch up to attempts times, pausing between tries, and
// stops early when ctx ends. It is meant to run once, in the background, at
// start.
func Resolve(ctx context.Context, client *http.Client, endpoint string, attempts int, pause time.Duration) (Identity, error) {
	var err error
	for i := 0; i < attempts; i++ {
		if i > 0 {
			t := time.NewTimer(pause)
			select {
			case <-ctx.Done():
				t.Stop()
				return Identity{}, errors.Join(err, ctx.Err())
			case <-t.C:
			}
		}
		var id Identity
		if id, err = Fetch(ctx, client, endpoint); err == nil {
			return id, nil
		}
	}
	return Identity{}, err
}

func call(ctx context.Context, client *http.Client, method, url, hk, hv string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set(hk, hv)
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s %s: %s", method, url, resp.Status)
	}
	if len(b) > maxBody {
		return "", fmt.Errorf("%s %s: answer longer than %d bytes", method, url, maxBody)
	}
	v := strings.TrimSpace(string(b))
	if !safeValue(v) {
		return "", fmt.Errorf("%s %s: unexpected answer %q", method, url, v)
	}
	return v, nil
}

// safeValue accepts what instance IDs, AZ names and tokens are made of, so a
// value can go into a header and a JSON string without escaping.
func safeValue(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '_', c == '.', c == '=', c == '+', c == '/':
		default:
			return false
		}
	}
	return true
}
