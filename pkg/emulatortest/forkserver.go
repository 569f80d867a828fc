//go:build linux

package emulatortest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The fork server (emulator/forkserver.py) is one Python process per test
// binary that has imported moto, installed the additions and created the
// backends wtt uses, once. Start asks it for an emulator: it forks a child
// that binds its own port and serves. The child costs a tenth of a second of
// CPU where a python3 wtt_emulator.py costs three or four (docs/performance.md).
//
// The two talk over an AF_UNIX SOCK_SEQPACKET socket pair, one JSON object
// per datagram; the child's stdout and stderr are a pipe whose write end goes
// with the request (SCM_RIGHTS). The fork server ends, and ends its children,
// when its end of the socket reads end of file: this process exited, however
// it did.

// forkServers is the one fork server of this test binary, started by the
// first Start that asks for it.
var forkServers struct {
	once   sync.Once
	server *forkServer
	err    error
}

// sharedForkServer returns the test binary's fork server, starting it on first
// use; started reports whether this call started it (and so waited for it).
func sharedForkServer(python, root string) (fs *forkServer, started bool, err error) {
	forkServers.once.Do(func() {
		forkServers.server, forkServers.err = startForkServer(python, root)
		started = true
	})
	return forkServers.server, started, forkServers.err
}

// forkServerCPU is what the fork server spent to import moto and warm the
// backends (0 if it has not started).
func forkServerCPU() time.Duration {
	if fs := forkServers.server; fs != nil {
		return fs.cpu
	}
	return 0
}

type forkServer struct {
	conn    *net.UnixConn
	cmd     *exec.Cmd
	log     *tailBuffer
	readyIn time.Duration // wall time from exec to ready
	cpu     time.Duration // its CPU to import moto and warm the backends
	warmed  []string

	mu      sync.Mutex
	nextID  int
	pending map[int]*forkedProcess // by request id, until listening or exited
	byPID   map[int]*forkedProcess // until exited
	dead    error                  // set when the fork server's socket closed
}

type forkMessage struct {
	// ready, once
	Ready bool     `json:"ready"`
	CPU   float64  `json:"cpu"`
	Warm  []string `json:"warm"`
	// replies to a request
	ID    *int   `json:"id"`
	PID   int    `json:"pid"`
	Port  int    `json:"port"`
	Error string `json:"error"`
	// a child reaped
	Exit *int `json:"exit"`
	Code int  `json:"code"`
}

func startForkServer(python, root string) (*forkServer, error) {
	script := filepath.Join(root, "emulator", "forkserver.py")
	if _, err := os.Stat(script); err != nil {
		return nil, err
	}
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket pair: %w", err)
	}
	mine := os.NewFile(uintptr(fds[0]), "forkserver control")
	theirs := os.NewFile(uintptr(fds[1]), "forkserver control (child end)")
	fc, err := net.FileConn(mine)
	mine.Close()
	if err != nil {
		return nil, fmt.Errorf("socket pair: %w", err)
	}
	fs := &forkServer{
		conn:    fc.(*net.UnixConn),
		log:     &tailBuffer{max: logTailBytes},
		pending: map[int]*forkedProcess{},
		byPID:   map[int]*forkedProcess{},
	}
	fs.cmd = exec.Command(python, script, "--control-fd", "3")
	fs.cmd.Dir = root
	fs.cmd.Stdout = fs.log
	fs.cmd.Stderr = fs.log
	fs.cmd.ExtraFiles = []*os.File{theirs} // fd 3
	setProcessGroup(fs.cmd)
	began := time.Now()
	err = fs.cmd.Start()
	theirs.Close() // the fork server's copy is its only one: its exit is our end of file
	if err != nil {
		fs.conn.Close()
		return nil, err
	}
	go func() { _ = fs.cmd.Wait() }()

	// The first message says it is ready; nothing else can come before it.
	_ = fs.conn.SetReadDeadline(began.Add(readyTimeout))
	var first forkMessage
	if err := fs.read(&first); err != nil || !first.Ready {
		fs.conn.Close() // it exits at end of file
		return nil, fmt.Errorf("fork server not ready (%v); output:\n%s", err, fs.log.String())
	}
	_ = fs.conn.SetReadDeadline(time.Time{})
	fs.readyIn = time.Since(began)
	fs.cpu = time.Duration(first.CPU * float64(time.Second))
	fs.warmed = first.Warm
	go fs.readLoop()
	return fs, nil
}

func (fs *forkServer) read(m *forkMessage) error {
	buf := make([]byte, 1<<16)
	n, err := fs.conn.Read(buf)
	if err != nil {
		return err
	}
	if n == 0 {
		return io.EOF
	}
	return json.Unmarshal(buf[:n], m)
}

func (fs *forkServer) readLoop() {
	for {
		var m forkMessage
		err := fs.read(&m)
		if err != nil {
			fs.died(err)
			return
		}
		fs.mu.Lock()
		switch {
		case m.Exit != nil:
			if p := fs.byPID[*m.Exit]; p != nil {
				delete(fs.byPID, *m.Exit)
				delete(fs.pending, p.id)
				p.finish(fmt.Sprintf("exit status %d", m.Code), m.CPU)
			}
		case m.ID != nil:
			p := fs.pending[*m.ID]
			if p == nil {
				break
			}
			switch {
			case m.Error != "":
				delete(fs.pending, p.id)
				p.finish("not started: "+m.Error, 0)
			case m.Port != 0:
				delete(fs.pending, p.id)
				p.listening <- m.Port
			case m.PID != 0:
				p.setPID(m.PID)
				fs.byPID[m.PID] = p
			}
		}
		fs.mu.Unlock()
	}
}

// died ends every emulator the fork server still knew of: it is gone, and
// its children got SIGTERM from the kernel (PR_SET_PDEATHSIG).
func (fs *forkServer) died(err error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if errors.Is(err, io.EOF) {
		err = fmt.Errorf("the fork server exited; its output:\n%s", fs.log.String())
	}
	fs.dead = err
	for _, p := range fs.pending {
		p.finish("fork server gone: "+err.Error(), 0)
	}
	for _, p := range fs.byPID {
		p.finish("fork server gone: "+err.Error(), 0)
	}
	fs.pending, fs.byPID = map[int]*forkedProcess{}, map[int]*forkedProcess{}
}

// start asks for an emulator run with args (wtt_emulator.py's options
// without --port: the child binds port 0); its output goes to out.
func (fs *forkServer) start(args []string, nice bool, out io.Writer) (*forkedProcess, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer w.Close()
	p := &forkedProcess{
		done:      make(chan struct{}),
		listening: make(chan int, 1),
		logDone:   make(chan struct{}),
	}
	go func() {
		_, _ = io.Copy(out, r)
		r.Close()
		close(p.logDone)
	}()
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	fs.mu.Lock()
	if fs.dead != nil {
		fs.mu.Unlock()
		return nil, fs.dead
	}
	fs.nextID++
	p.id = fs.nextID
	fs.pending[p.id] = p
	fs.mu.Unlock()
	msg, err := json.Marshal(map[string]any{"id": p.id, "args": args, "env": env, "nice": nice})
	if err != nil {
		return nil, err
	}
	if _, _, err := fs.conn.WriteMsgUnix(msg, syscall.UnixRights(int(w.Fd())), nil); err != nil {
		fs.mu.Lock()
		delete(fs.pending, p.id)
		fs.mu.Unlock()
		return nil, fmt.Errorf("ask the fork server: %w", err)
	}
	return p, nil
}

// forkedProcess is an emulator forked by the fork server.
type forkedProcess struct {
	id        int
	listening chan int      // its port, once it listens
	logDone   chan struct{} // closed when its output pipe is drained

	mu     sync.Mutex
	pidV   int
	done   chan struct{}
	status string
	cpuV   time.Duration
}

func (p *forkedProcess) setPID(pid int) {
	p.mu.Lock()
	p.pidV = pid
	p.mu.Unlock()
}

// finish records how it ended (with the fork server's lock held; once).
func (p *forkedProcess) finish(status string, cpuSeconds float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.done:
		return
	default:
	}
	p.status = status
	p.cpuV = time.Duration(cpuSeconds * float64(time.Second))
	close(p.done)
}

func (p *forkedProcess) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pidV
}

func (p *forkedProcess) signal(kill bool) {
	pid := p.pid()
	if pid <= 0 {
		return
	}
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	if err := syscall.Kill(-pid, sig); err != nil {
		_ = syscall.Kill(pid, sig)
	}
}

func (p *forkedProcess) exited() <-chan struct{} { return p.done }
func (p *forkedProcess) how() string             { return "forked from the fork server" }

func (p *forkedProcess) exitStatus() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.status
}

func (p *forkedProcess) cpu() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cpuV
}

// output waits a little for the child's output to be drained, so that an
// error carries its last lines.
func (p *forkedProcess) drained() {
	select {
	case <-p.logDone:
	case <-time.After(time.Second):
	}
}

// forkServerFor returns the test binary's fork server, starting it (and
// logging what that cost) on first use.
func forkServerFor(tb testing.TB, python, root string) (*forkServer, error) {
	fs, started, err := sharedForkServer(python, root)
	if err != nil {
		return nil, err
	}
	if started {
		tb.Logf("emulatortest: fork server ready in %.1f s (%.1f s of CPU to import moto and warm %d requests); this test binary's emulators are forked from it",
			fs.readyIn.Seconds(), fs.cpu.Seconds(), len(fs.warmed))
	}
	return fs, nil
}

// startEmulator forks an emulator with args (wtt_emulator.py's options) and
// waits until it listens; its output goes to out. An error without a
// process means the fork server could not be asked; with a process, the
// emulator itself failed.
func (fs *forkServer) startEmulator(args []string, nice bool, out io.Writer) (process, int, error) {
	p, err := fs.start(args, nice, out)
	if err != nil {
		return nil, 0, err
	}
	select {
	case port := <-p.listening:
		return p, port, nil
	case <-p.done:
		if p.pid() == 0 { // refused before any fork: the fork server's fault, not the emulator's
			return nil, 0, errors.New(p.exitStatus())
		}
		p.drained()
		return p, 0, fmt.Errorf("%w: %s", errExited, p.exitStatus())
	case <-time.After(readyTimeout):
		return p, 0, fmt.Errorf("no port from the forked emulator within %s", readyTimeout)
	}
}
