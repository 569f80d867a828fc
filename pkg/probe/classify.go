package probe

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"
)

// Kind is what became of one request.
type Kind string

const (
	OK Kind = "ok"
	// Refused: nothing listens at the address (a stopped or terminated
	// instance on loopback; on AWS, a closed port).
	Refused Kind = "refused"
	// Timeout: no answer within the request timeout (on AWS, a stopped
	// instance's address drops packets).
	Timeout Kind = "timeout"
	// Reset: the connection was cut mid-request (a process killed).
	Reset Kind = "reset"
	// ServerError: an HTTP 5xx (a load balancer with no healthy target
	// answers 502 or 503).
	ServerError Kind = "5xx"
	// Wrong: an answer, but not the time server's (a 4xx, or a body that
	// is not the /api/time JSON with a plausible time).
	Wrong Kind = "wrong answer"
	// DNS: the name did not resolve.
	DNS Kind = "dns"
)

// failureKinds lists the failure kinds in the order reports show them.
var failureKinds = []Kind{Refused, Timeout, Reset, ServerError, Wrong, DNS}

// maxClockSkew is how far the answered time may be from the probe's own
// clock and still count as right: a clock further off is a wrong answer.
const maxClockSkew = 5 * time.Minute

// classifyError names a transport failure.
func classifyError(err error) Kind {
	var de *DNSError
	switch {
	case errors.As(err, &de):
		return DNS
	case errors.Is(err, syscall.ECONNREFUSED):
		return Refused
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return Timeout
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return Timeout
	}
	return Reset
}

// timeAnswer is the part of the time server's /api/time answer the probe
// checks.
type timeAnswer struct {
	Time string `json:"time"`
	Zone string `json:"zone"`
	Unix *int64 `json:"unix"`
}

// classifyResponse judges an HTTP answer. checkTime says whether the body
// must be the time server's /api/time JSON (the default URL); for another
// --probe-url any 2xx counts.
func classifyResponse(resp *http.Response, body []byte, checkTime bool, now time.Time) Kind {
	switch {
	case resp.StatusCode >= 500:
		return ServerError
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return Wrong
	case !checkTime:
		return OK
	}
	var a timeAnswer
	if json.Unmarshal(body, &a) != nil || a.Zone == "" || a.Unix == nil {
		return Wrong
	}
	t, err := time.Parse(time.RFC3339, a.Time)
	if err != nil || t.Unix() != *a.Unix {
		return Wrong
	}
	if d := now.Sub(t); d > maxClockSkew || d < -maxClockSkew {
		return Wrong
	}
	return OK
}

// readBody reads at most 64 KiB: an /api/time answer is a few hundred bytes.
func readBody(r io.Reader) ([]byte, error) { return io.ReadAll(io.LimitReader(r, 64<<10)) }
