package faultproxy

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
)

// protocol is how a service serialises its errors; the SDK only parses an
// error (and so only classifies it as throttling) in its own protocol.
type protocol int

const (
	ec2Query protocol = iota // <Response><Errors><Error>
	awsQuery                 // <ErrorResponse><Error><Type>
	restXML                  // Route 53: <ErrorResponse> too, on a REST path
	s3XML                    // <Error> at the top
	awsJSON                  // {"__type": ...}
)

// queryServices are the signing names of the services that speak the AWS
// query protocol (form-encoded Action=..., <ErrorResponse> errors).
var queryServices = map[string]bool{
	"elasticloadbalancing": true, "autoscaling": true, "iam": true, "sts": true,
	"sns": true, "rds": true, "cloudformation": true, "monitoring": true, "ses": true,
	"elasticache": true, "redshift": true,
}

// serviceOf is the service the request was signed for, from the SigV4
// credential scope (".../us-east-1/ec2/aws4_request"), in the Authorization
// header or a presigned URL.
func serviceOf(r *http.Request) string {
	cred := r.URL.Query().Get("X-Amz-Credential")
	if auth := r.Header.Get("Authorization"); auth != "" {
		if _, after, ok := strings.Cut(auth, "Credential="); ok {
			cred, _, _ = strings.Cut(after, ",")
		}
	}
	parts := strings.Split(cred, "/")
	if len(parts) == 5 && parts[4] == "aws4_request" {
		return parts[3]
	}
	return ""
}

// protocolOf tells the protocol from the request: the signing service
// first, then what the request itself looks like.
func protocolOf(r *http.Request, service string) protocol {
	ct := r.Header.Get("Content-Type")
	switch {
	case service == "ec2":
		return ec2Query
	case r.Header.Get("X-Amz-Target") != "" || strings.Contains(ct, "x-amz-json"):
		return awsJSON
	case service == "ssm" || service == "servicequotas":
		return awsJSON
	case service == "route53" || strings.HasPrefix(r.URL.Path, "/2013-04-01/"):
		return restXML
	case service == "s3":
		return s3XML
	case queryServices[service]:
		return awsQuery
	case strings.HasPrefix(ct, "application/x-www-form-urlencoded"):
		// Unsigned or unknown: EC2 is the query service whose API version
		// is 2016-11-15. The body is read only because the request is not
		// going to be forwarded.
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		r.Body = io.NopCloser(bytes.NewReader(body))
		if bytes.Contains(body, []byte("Version=2016-11-15")) {
			return ec2Query
		}
		return awsQuery
	}
	return s3XML
}

// awsError is one error as a service would send it.
type awsError struct {
	status  int
	code    string
	message string
	sender  bool // query protocol <Type>: Sender (the caller's fault) or Receiver
}

// errorFor is the error AWS sends for kind in the given protocol.
func errorFor(kind Kind, p protocol) awsError {
	switch kind {
	case Throttle:
		switch p {
		case ec2Query:
			return awsError{http.StatusBadRequest, "RequestLimitExceeded", "Request limit exceeded.", true}
		case s3XML:
			return awsError{http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.", true}
		case awsJSON:
			return awsError{http.StatusBadRequest, "ThrottlingException", "Rate exceeded", true}
		}
		return awsError{http.StatusBadRequest, "Throttling", "Rate exceeded", true}
	case Unavailable:
		switch p {
		case ec2Query:
			return awsError{http.StatusServiceUnavailable, "Unavailable", "The server is overloaded and can't handle the request.", false}
		case awsJSON:
			return awsError{http.StatusServiceUnavailable, "ServiceUnavailableException", "Service is unavailable. Please try again.", false}
		}
		return awsError{http.StatusServiceUnavailable, "ServiceUnavailable", "Service is unavailable. Please try again.", false}
	}
	switch p {
	case ec2Query, s3XML:
		return awsError{http.StatusInternalServerError, "InternalError", "An internal error has occurred.", false}
	case awsJSON:
		return awsError{http.StatusInternalServerError, "InternalServerError", "An internal error has occurred.", false}
	}
	return awsError{http.StatusInternalServerError, "InternalFailure", "An internal error has occurred.", false}
}

// fail answers the request with the fault instead of the target.
func fail(w http.ResponseWriter, r *http.Request, kind Kind, service string) {
	if kind == Drop {
		drop(w)
		return
	}
	p := protocolOf(r, service)
	e := errorFor(kind, p)
	id := requestID()
	h := w.Header()
	var body string
	switch p {
	case ec2Query:
		h.Set("Content-Type", "text/xml;charset=UTF-8")
		body = fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
			`<Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>%s</RequestID></Response>`,
			e.code, e.message, id)
	case awsQuery, restXML:
		h.Set("Content-Type", "text/xml")
		h.Set("X-Amzn-Requestid", id)
		typ := "Receiver"
		if e.sender {
			typ = "Sender"
		}
		body = fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
			`<ErrorResponse><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>`,
			typ, e.code, e.message, id)
	case s3XML:
		h.Set("Content-Type", "application/xml")
		h.Set("X-Amz-Request-Id", id)
		h.Set("X-Amz-Id-2", id)
		body = fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
			`<Error><Code>%s</Code><Message>%s</Message><RequestId>%s</RequestId><HostId>%s</HostId></Error>`,
			e.code, e.message, id, id)
	case awsJSON:
		h.Set("Content-Type", "application/x-amz-json-1.1")
		h.Set("X-Amzn-Requestid", id)
		body = fmt.Sprintf(`{"__type":%q,"message":%q}`, e.code, e.message)
	}
	if r.Method == http.MethodHead {
		// A HEAD answer has no body: the SDK classifies it by status alone.
		body = ""
	}
	w.WriteHeader(e.status)
	_, _ = io.WriteString(w, body)
}

// drop closes the connection before any byte of a response, with a TCP
// reset where possible: what a client sees when a load balancer or NAT
// loses the connection.
func drop(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler) // the server closes the connection
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = conn.Close()
}

func requestID() string {
	const hex = "0123456789abcdef"
	b := make([]byte, 32)
	for i := range b {
		b[i] = hex[rand.IntN(16)]
	}
	return string(b)
}
