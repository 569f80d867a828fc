// Package emulatortest starts the wtt AWS emulator (emulator/wtt_emulator.py:
// moto's server plus the additions wtt needs) for tests, and builds AWS SDK
// configuration and process environments pointed at it.
//
// A test calls Start, which launches its own emulator on a free 127.0.0.1
// port and stops it when the test ends:
//
//	emu := emulatortest.Start(t)
//	cfg := emu.AWSConfig(t)          // aws-sdk-go-v2 clients
//	cmd.Env = append(os.Environ(), emu.Env()...) // the wtt binary
//
// The emulator's data plane (time server processes, load balancer proxies,
// DNS; docs/emulator.md) is off unless asked for, so suites that never send
// a request to the app stay fast:
//
//	emu := emulatortest.Start(t, emulatortest.WithDataPlane("--dataplane-time-scale=0.1"))
//	emu.DNSAddr()                      // "127.0.0.1:<port>", the Route 53 resolver
//	emu.KillAZ(t, "us-east-1a")        // chaos: that AZ's time servers die, the API is not told
//
// On Linux, emulators are forked from one Python process per test binary,
// the fork server (emulator/forkserver.py), which imports moto, installs the
// additions and creates the backends wtt uses once: an emulator then costs
// about 0.1 s of CPU instead of 3 to 5 (BenchmarkStart prints both). Each
// child is an emulator of its own (own port, bound by itself; own state;
// its own data plane), stopped like a plain one, and ends with the test
// binary. It is on unless WTT_EMULATOR_FORKSERVER=0. It was opt-in for a
// while: under load, wtt runs against forked emulators saw answers cut off
// (a 200 whose body could not be read: "use of closed network
// connection"), which their SDK retried. The cause was a race in the SDK's
// HTTP client, not in the emulators; pkg/sdkhttp closes it, and forked
// children now share the test's scheduling group as plain emulators do
// (docs/emulator.md, "The fork server").
//
// When the environment variable WTT_E2E_ENDPOINT is set (for example to a
// LocalStack endpoint), Start starts nothing and every helper points at that
// URL instead; Reset then only logs.
package emulatortest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/whatsthetime/wtt/pkg/sdkhttp"
)

const (
	// EndpointEnv names the environment variable that replaces the local
	// emulator with an already running AWS-compatible endpoint.
	EndpointEnv = "WTT_E2E_ENDPOINT"
	// PythonEnv names the environment variable that overrides the Python
	// interpreter (default: python3 on PATH).
	PythonEnv = "WTT_PYTHON"

	// Region is the region every helper uses.
	Region = "us-east-1"

	accessKey    = "testing"
	secretKey    = "testing"
	readyTimeout = 90 * time.Second
	stopGrace    = 5 * time.Second
	logTailBytes = 64 << 10
)

// Emulator is a running emulator (or an external endpoint, see EndpointEnv).
type Emulator struct {
	url      string
	external bool

	proc      process
	log       *tailBuffer
	logged    bool
	dataPlane bool
	started   time.Time
	cpuLogged bool
}

// An Option changes how Start runs the emulator.
type Option func(*options)

type options struct {
	dataPlane     bool
	dataPlaneArgs []string
	serverBinary  string
	plain         bool // never from the fork server (the benchmark's baseline)
}

// WithDataPlane turns the emulator's data plane on: every running instance
// is a real time server on loopback, load balancers proxy, Route 53 answers
// DNS on DNSAddr. args go to the launcher as they are, e.g.
// "--boot-delay=0.5" or "--dataplane-time-scale=0.1" (health checks and
// deregistration delays ten times shorter). Without WithServerBinary (or
// WTT_SERVER_BINARY in the environment), Start builds ./timeserver for this
// machine into the test's temporary directory.
func WithDataPlane(args ...string) Option {
	return func(o *options) {
		o.dataPlane = true
		o.dataPlaneArgs = append(o.dataPlaneArgs, args...)
	}
}

// WithServerBinary names the time server the data plane runs (it must be
// built for this machine's OS and architecture).
func WithServerBinary(path string) Option {
	return func(o *options) { o.serverBinary = path }
}

// ForkServerEnv names the environment variable that, set to 0, makes Start
// launch its own python3 emulator/wtt_emulator.py for each emulator instead
// of forking it from the test binary's fork server (the package doc).
const ForkServerEnv = "WTT_EMULATOR_FORKSERVER"

// Start launches an emulator on a loopback port, waits until it answers (at
// most 90 s: importing moto is slow on a loaded machine) and registers a
// cleanup that stops it: SIGTERM to its process group, SIGKILL after 5 s.
// If the test failed, the tail of the emulator's output is logged.
//
// On Linux the emulator is forked from the test binary's fork server
// (emulator/forkserver.py, started by the first Start, which has imported
// moto and created the backends once); it binds port 0 and reports the port
// it got. Where that is not possible (another OS, the fork server failed to
// start, WTT_EMULATOR_FORKSERVER=0), Start runs python3
// emulator/wtt_emulator.py from the repository root (found by walking up
// from the working directory to go.mod) on a free port, and logs why.
//
// An emulator without the data plane runs at a lower CPU priority (nice 10):
// when suites run side by side, the data plane's answers, which probes time,
// come first.
func Start(tb testing.TB, opts ...Option) *Emulator {
	tb.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if url := strings.TrimSpace(os.Getenv(EndpointEnv)); url != "" {
		tb.Logf("emulatortest: using %s=%s; no emulator started", EndpointEnv, url)
		return &Emulator{url: strings.TrimRight(url, "/"), external: true}
	}
	root, err := RepoRoot()
	if err != nil {
		tb.Fatalf("emulatortest: %v", err)
	}
	script := filepath.Join(root, "emulator", "wtt_emulator.py")
	if _, err := os.Stat(script); err != nil {
		tb.Fatalf("emulatortest: %v", err)
	}
	python := os.Getenv(PythonEnv)
	if python == "" {
		python = "python3"
	}
	if _, err := exec.LookPath(python); err != nil {
		tb.Fatalf("emulatortest: no Python interpreter (%s): %v", python, err)
	}
	args := []string{"--host", "127.0.0.1"}
	if o.dataPlane {
		binary, err := serverBinary(tb, root, o.serverBinary)
		if err != nil {
			tb.Fatalf("emulatortest: data plane: %v", err)
		}
		args = append(args, "--dataplane", "--server-binary", binary)
		args = append(args, o.dataPlaneArgs...)
	} else {
		args = append(args, "--no-dataplane")
	}

	// A launch that dies early is retried: with a free port picked here,
	// another process may take it before the emulator binds it; with the
	// data plane, its DNS server needs the same number on UDP.
	var lastErr error
	forked := !o.plain && os.Getenv(ForkServerEnv) != "0"
	for attempt := 0; attempt < 3; attempt++ {
		e := &Emulator{log: &tailBuffer{max: logTailBytes}, dataPlane: o.dataPlane, started: time.Now()}
		var port int
		if forked {
			var fs *forkServer
			var proc process
			fs, err = forkServerFor(tb, python, root)
			if err == nil {
				e.started = time.Now() // its own lifetime, not the fork server's start
				proc, port, err = fs.startEmulator(append(args, "--port", "0"), !o.dataPlane, e.log)
			}
			if proc == nil {
				tb.Logf("emulatortest: fork server unavailable, starting %s %s instead: %v", python, script, err)
				forked = false
				attempt--
				continue
			}
			e.proc = proc
		} else {
			port, err = freePort()
			if err != nil {
				tb.Fatalf("emulatortest: %v", err)
			}
			cmd := exec.Command(python, append(append([]string{script}, args...), "--port", strconv.Itoa(port))...)
			cmd.Dir = root
			cmd.Stdout = e.log
			cmd.Stderr = e.log
			proc, startErr := startExec(cmd)
			if startErr != nil {
				tb.Fatalf("emulatortest: start %s: %v", script, startErr)
			}
			if !o.dataPlane {
				yieldCPU(proc.pid())
			}
			e.proc = proc
		}
		tb.Cleanup(func() { e.stop(tb) })
		e.url = "http://127.0.0.1:" + strconv.Itoa(port)
		if err == nil {
			err = e.waitReady(readyTimeout)
		} else {
			err = fmt.Errorf("%w; output:\n%s", err, e.log.String())
		}
		if err != nil {
			lastErr = err
			e.logged = true // the error carries the output
			e.stop(tb)
			if errors.Is(err, errExited) {
				continue
			}
			break
		}
		return e
	}
	tb.Fatalf("emulatortest: emulator did not start: %v", lastErr)
	return nil
}

var errExited = errors.New("emulator exited")

func (e *Emulator) waitReady(timeout time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-e.proc.exited():
			return fmt.Errorf("%w: %s; output:\n%s", errExited, e.proc.exitStatus(), e.log.String())
		default:
		}
		// Only an answer after our emulator said it listens on the URL is
		// ours: with a port picked free and then released, another
		// process may have bound it first and be the one answering.
		ours := strings.Contains(e.log.String(), "listening on "+e.url)
		resp, err := client.Get(e.url + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 && ours {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer from %s within %s (last error: %v); output:\n%s",
				e.url, timeout, err, e.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends the emulator's process group (idempotent).
func (e *Emulator) stop(tb testing.TB) {
	if e.proc == nil || e.proc.pid() == 0 {
		return
	}
	select {
	case <-e.proc.exited():
	default:
		e.proc.signal(false)
		select {
		case <-e.proc.exited():
		case <-time.After(stopGrace):
			e.proc.signal(true)
			<-e.proc.exited()
		}
	}
	// The emulator's CPU against its lifetime says whether a suite is bound
	// by it (near 100%) or mostly waits (go test -v shows it). A forked
	// emulator's CPU is its own since the fork: the fork server's import and
	// warm-up are logged once, by the Start that started it.
	if !e.cpuLogged {
		e.cpuLogged = true
		cpu, wall := e.proc.cpu(), time.Since(e.started)
		tb.Logf("emulatortest: emulator used %.1f s of CPU in %.1f s (%.0f%%; %s)",
			cpu.Seconds(), wall.Seconds(), 100*cpu.Seconds()/wall.Seconds(), e.proc.how())
	}
	if tb.Failed() && !e.logged && e.log.String() != "" {
		e.logged = true
		tb.Logf("emulatortest: emulator output (last %d bytes):\n%s", logTailBytes, e.log.String())
	}
}

// URL is the endpoint every AWS service is reached at, e.g. http://127.0.0.1:40123.
func (e *Emulator) URL() string { return e.url }

// External reports whether the Emulator is an endpoint from WTT_E2E_ENDPOINT.
func (e *Emulator) External() bool { return e.external }

// PID is the emulator's process id, or 0 for an external endpoint.
func (e *Emulator) PID() int {
	if e.proc == nil {
		return 0
	}
	return e.proc.pid()
}

// Reset empties every moto backend (POST /moto-api/reset). For an external
// endpoint it only logs.
func (e *Emulator) Reset(tb testing.TB) {
	tb.Helper()
	if e.external {
		tb.Logf("emulatortest: Reset is a no-op for %s=%s", EndpointEnv, e.url)
		return
	}
	resp, err := http.Post(e.url+"/moto-api/reset", "application/json", bytes.NewReader(nil))
	if err != nil {
		tb.Fatalf("emulatortest: reset: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("emulatortest: reset: HTTP %d", resp.StatusCode)
	}
}

// Env is the environment (KEY=value) that points the AWS SDK, and so the wtt
// binary, at the emulator. Append it to os.Environ() for a child process.
// For an external endpoint with ambient credentials (AWS_ACCESS_KEY_ID or
// AWS_PROFILE set), the fake credentials are left out.
func (e *Emulator) Env() []string {
	env := []string{"AWS_ENDPOINT_URL=" + e.url}
	if !e.useAmbientCredentials() {
		env = append(env, "AWS_ACCESS_KEY_ID="+accessKey, "AWS_SECRET_ACCESS_KEY="+secretKey)
	}
	return append(env,
		"AWS_REGION="+Region,
		"AWS_DEFAULT_REGION="+Region,
		"AWS_EC2_METADATA_DISABLED=true",
	)
}

func (e *Emulator) useAmbientCredentials() bool {
	return e.external && (os.Getenv("AWS_ACCESS_KEY_ID") != "" || os.Getenv("AWS_PROFILE") != "")
}

// AWSConfig is an aws-sdk-go-v2 configuration for the emulator: its URL as
// base endpoint, region us-east-1, static fake credentials (ambient ones for an
// external endpoint that has them) and the SDK's buildable HTTP client, which
// honours AWS_CA_BUNDLE (the SDK refuses a plain *http.Client when it is set),
// as wtt itself builds it (pkg/sdkhttp).
func (e *Emulator) AWSConfig(tb testing.TB) aws.Config {
	tb.Helper()
	opts := []func(*config.LoadOptions) error{
		config.WithRegion(Region),
		config.WithBaseEndpoint(e.url),
		config.WithHTTPClient(awshttp.NewBuildableClient()),
	}
	if !e.useAmbientCredentials() {
		opts = append(opts, config.WithCredentialsProvider(aws.CredentialsProviderFunc(
			func(context.Context) (aws.Credentials, error) {
				return aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: secretKey, Source: "emulatortest"}, nil
			})))
	}
	cfg, err := config.LoadDefaultConfig(context.Background(), opts...)
	if err != nil {
		tb.Fatalf("emulatortest: aws config: %v", err)
	}
	// Wrapped only now: with AWS_CA_BUNDLE set, loading the configuration
	// needs the SDK's own client type.
	cfg.HTTPClient = sdkhttp.Wrap(cfg.HTTPClient)
	return cfg
}

// RepoRoot walks up from the working directory to the directory holding go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tailBuffer keeps the last max bytes written to it; safe for concurrent use.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
