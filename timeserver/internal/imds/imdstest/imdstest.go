// Package imdstest is a fake EC2 instance metadata service (IMDSv2 only) for
// tests: GETs without a valid session token get 401, as on EC2 with
// HttpTokens=required.
package imdstest

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
)

// Token is the session token the fake hands out.
const Token = "fake-imds-token-AQAEA=="

// Server is a running fake.
type Server struct {
	*httptest.Server
	// TokenRequests and Unauthorized count PUTs for a token and GETs
	// refused for lack of one.
	TokenRequests atomic.Int32
	Unauthorized  atomic.Int32
}

// New starts a fake that answers with the given instance ID and
// Availability Zone. Close it when done.
func New(instanceID, az string) *Server {
	s := &Server{}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /latest/api/token", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds") == "" {
			http.Error(w, "missing ttl", http.StatusBadRequest)
			return
		}
		s.TokenRequests.Add(1)
		w.Write([]byte(Token))
	})
	meta := func(v string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-aws-ec2-metadata-token") != Token {
				s.Unauthorized.Add(1)
				http.Error(w, "Unauthorized", http.StatusUnauthorized)
				return
			}
			w.Write([]byte(v))
		}
	}
	mux.HandleFunc("GET /latest/meta-data/instance-id", meta(instanceID))
	mux.HandleFunc("GET /latest/meta-data/placement/availability-zone", meta(az))
	s.Server = httptest.NewServer(mux)
	return s
}
