//go:build !linux

package httploop

import (
	"context"
	"net"
)

// Supported reports whether Serve works here.
const Supported = false

type impl struct{}

func (s *Server) Serve(ln net.Listener) error        { return ErrUnsupported }
func (s *Server) SetKeepAlivesEnabled(v bool)        {}
func (s *Server) Shutdown(ctx context.Context) error { return nil }
func (s *Server) Close() error                       { return nil }
func (s *Server) VisitLocals(f func(any))            {}
