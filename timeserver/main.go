// Command timeserver is the WhatsTheTime.com time server: an HTML page and a
// JSON API that tell the time in any IANA time zone, with health, readiness
// and Prometheus endpoints for the load balancer and monitoring, and headers
// saying which EC2 instance and Availability Zone answered.
//
// See docs/timeserver.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/whatsthetime/wtt/timeserver/internal/httploop"
	"github.com/whatsthetime/wtt/timeserver/internal/imds"
	"github.com/whatsthetime/wtt/timeserver/internal/tz"
)

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

type config struct {
	addr            string
	imdsEndpoint    string
	shutdownTimeout time.Duration
	drainDelay      time.Duration
	logLevel        slog.Level
	showVersion     bool
	httpServer      string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		// After the first signal, a second one kills the process at once.
		<-ctx.Done()
		stop()
	}()
	eventLoops = runtime.GOMAXPROCS(0) // the cores the process may use
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// eventLoops is how many loops the event-loop server runs, one per core;
// 0 (in tests) means httploop's default, GOMAXPROCS loops and no spare P.
var eventLoops int

// parseFlags reads the command line; PORT in the environment is used when
// --addr is not given.
func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("timeserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.addr, "addr", ":80", "address to listen on (default :$PORT when PORT is set)")
	fs.StringVar(&c.imdsEndpoint, "imds-endpoint", imds.DefaultEndpoint,
		`EC2 instance metadata service base URL; "" or "off" to not ask`)
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 20*time.Second,
		"on SIGTERM/SIGINT, how long in-flight requests may take to finish")
	fs.DurationVar(&c.drainDelay, "drain-delay", 0,
		"on SIGTERM/SIGINT, how long to keep serving with /readyz at 503 before closing the listener")
	fs.TextVar(&c.logLevel, "log-level", slog.LevelInfo, "log level: debug, info, warn, error")
	fs.BoolVar(&c.showVersion, "version", false, "print the version and exit")
	fs.StringVar(&c.httpServer, "http-server", defaultHTTPServer,
		`HTTP implementation: "event-loop" (epoll, Linux only: the fast one) or "net/http" (Go's own)`)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	addrSet := false
	fs.Visit(func(f *flag.Flag) { addrSet = addrSet || f.Name == "addr" })
	if port := getenv("PORT"); port != "" && !addrSet {
		c.addr = ":" + port
	}
	if c.shutdownTimeout <= 0 {
		return c, errors.New("--shutdown-timeout must be positive")
	}
	if c.drainDelay < 0 {
		return c, errors.New("--drain-delay must not be negative")
	}
	switch c.httpServer {
	case serverNetHTTP:
	case serverEventLoop:
		if !httploop.Supported {
			return c, fmt.Errorf("--http-server=%s needs Linux; use --http-server=%s", serverEventLoop, serverNetHTTP)
		}
	default:
		return c, fmt.Errorf("--http-server must be %q or %q, not %q", serverEventLoop, serverNetHTTP, c.httpServer)
	}
	if strings.EqualFold(c.imdsEndpoint, "off") {
		c.imdsEndpoint = ""
	}
	return c, nil
}

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "timeserver:", err)
		return 2
	}
	if cfg.showVersion {
		fmt.Fprintf(stdout, "timeserver %s (%s, tzdata %s)\n", version, runtime.Version(), tz.DataVersion)
		return 0
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.logLevel}))

	a := newApp(version)
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		log.Error("cannot listen", "addr", cfg.addr, "err", err)
		return 1
	}
	if err := serve(ctx, ln, a, a, cfg, log); err != nil {
		log.Error("server failed", "err", err)
		return 1
	}
	return 0
}

// The two HTTP implementations; both answer with the same handlers.
const (
	serverEventLoop = "event-loop"
	serverNetHTTP   = "net/http"
)

var defaultHTTPServer = func() string {
	if httploop.Supported {
		return serverEventLoop
	}
	return serverNetHTTP
}()

// inlinePaths are the app's own endpoints that answer without blocking, so
// the event loop runs them itself. Everything else (/metrics, whose
// gathering may take a while, and unknown paths) runs on a goroutine.
var inlinePaths = []string{"/api/time", "/api/zones", "/healthz", "/readyz", "/"}

// httpServer is what serve needs of an HTTP server: *http.Server and
// *httploop.Server both have it.
type httpServer interface {
	Serve(net.Listener) error
	SetKeepAlivesEnabled(bool)
	Shutdown(context.Context) error
	Close() error
}

// Timeouts, the same for both servers.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 15 * time.Second
	// Longer than the load balancer's idle timeout (60 s on an ALB by
	// default), so the balancer, not the target, closes idle
	// connections and never sends on one the target just closed.
	idleTimeout    = 120 * time.Second
	maxHeaderBytes = 32 << 10
)

func newHTTPServer(kind string, a *app, h http.Handler, log *slog.Logger) httpServer {
	errLog := slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	if kind == serverNetHTTP {
		return &http.Server{
			Handler:           h,
			ReadHeaderTimeout: readHeaderTimeout,
			ReadTimeout:       readTimeout,
			WriteTimeout:      writeTimeout,
			IdleTimeout:       idleTimeout,
			MaxHeaderBytes:    maxHeaderBytes,
			ErrorLog:          errLog,
		}
	}
	return &httploop.Server{
		Inline:            a,
		InlinePaths:       inlinePaths,
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          errLog,
		Loops:             eventLoops,
		NewLocal:          func() any { return new(loopLocal) },
	}
}

// serve answers on ln with h until ctx ends, then drains: /readyz turns 503,
// keep-alives stop, after cfg.drainDelay the listener closes, and in-flight
// requests get cfg.shutdownTimeout to finish before their connections are
// closed. It also looks up the instance identity in the background. With
// the event loop, the app answers its own endpoints (inlinePaths) directly
// and h gets every other request.
func serve(ctx context.Context, ln net.Listener, a *app, h http.Handler, cfg config, log *slog.Logger) error {
	kind := cfg.httpServer
	if kind == "" {
		kind = defaultHTTPServer
	}
	if kind == serverEventLoop && eventLoops > 0 {
		// One P more than there are loops, for everything else, so that
		// a busy loop can wait for events without handing its P back to
		// the scheduler (see httploop.Server.Loops).
		runtime.GOMAXPROCS(eventLoops + 1)
	}
	srv := newHTTPServer(kind, a, h, log)
	if loops, ok := srv.(*httploop.Server); ok {
		// Scrapes add up the counts each loop keeps for itself.
		visit := loops.VisitLocals
		a.metrics.requests.visitLoops.Store(&visit)
	}

	idCtx, idCancel := context.WithCancel(context.Background())
	idDone := make(chan struct{})
	go func() {
		defer close(idDone)
		lookUpIdentity(idCtx, a, cfg.imdsEndpoint, log)
	}()
	defer func() { idCancel(); <-idDone }()

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("timeserver started", "addr", ln.Addr().String(), "version", version,
		"go", runtime.Version(), "zones", len(a.zones.Names()), "tzdata", tz.DataVersion,
		"imds", cfg.imdsEndpoint, "http", kind)

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}

	began := time.Now()
	a.startDraining()
	srv.SetKeepAlivesEnabled(false)
	log.Info("shutting down", "cause", context.Cause(ctx).Error(),
		"drainDelay", cfg.drainDelay.String(), "shutdownTimeout", cfg.shutdownTimeout.String())
	if cfg.drainDelay > 0 {
		time.Sleep(cfg.drainDelay)
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	clean := err == nil
	if err != nil {
		srv.Close() // time is up: cut what is left
	}
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	level := slog.LevelInfo
	if !clean {
		level = slog.LevelWarn // in-flight requests were cut at the timeout
	}
	log.Log(context.Background(), level, "timeserver stopped", "clean", clean,
		"took", time.Since(began).Round(time.Millisecond).String())
	if errors.Is(err, context.DeadlineExceeded) {
		return nil // requests were cut, but stopping was what was asked
	}
	return err
}

// How hard the metadata service is asked: each request may take imdsTimeout,
// and imdsAttempts tries are imdsPause apart (about 5 s at most in all).
// Variables so tests can shorten them.
var (
	imdsTimeout  = time.Second
	imdsAttempts = 3
	imdsPause    = time.Second
)

// lookUpIdentity asks the metadata service where we run, a few times with
// short timeouts, and publishes the answer. Off EC2 nothing is published.
func lookUpIdentity(ctx context.Context, a *app, endpoint string, log *slog.Logger) {
	if endpoint == "" {
		return
	}
	client := imds.NewHTTPClient(imdsTimeout)
	defer client.CloseIdleConnections()
	id, err := imds.Resolve(ctx, client, endpoint, imdsAttempts, imdsPause)
	if err != nil {
		if ctx.Err() == nil {
			log.Debug("no instance identity", "imds", endpoint, "err", err)
		}
		return
	}
	a.setIdentity(id)
	log.Info("instance identity", "instanceId", id.InstanceID, "availabilityZone", id.AvailabilityZone)
}
