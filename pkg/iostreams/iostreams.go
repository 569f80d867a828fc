// Package iostreams decides what goes where: data on stdout always, chatter
// and progress on stderr, colour and spinners only for a person at a terminal.
package iostreams

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"
)

// IOStreams is injected into every command so tests can capture output and
// pretend to be (or not be) a terminal.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	stdinTTY, stdoutTTY, stderrTTY bool
	NoColor                        bool
}

// System returns streams bound to the process's own stdin/stdout/stderr.
func System() *IOStreams {
	return &IOStreams{
		In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
		stdinTTY:  isTerminal(os.Stdin),
		stdoutTTY: isTerminal(os.Stdout),
		stderrTTY: isTerminal(os.Stderr),
		NoColor:   os.Getenv("NO_COLOR") != "",
	}
}

// Test returns streams writing to the given buffers, none of them a terminal.
func Test(in io.Reader, out, errOut io.Writer) *IOStreams {
	return &IOStreams{In: in, Out: out, ErrOut: errOut, NoColor: true}
}

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// SetTTY overrides terminal detection (tests).
func (s *IOStreams) SetTTY(stdin, stdout, stderr bool) {
	s.stdinTTY, s.stdoutTTY, s.stderrTTY = stdin, stdout, stderr
}

func (s *IOStreams) IsStdoutTTY() bool { return s.stdoutTTY }
func (s *IOStreams) IsStderrTTY() bool { return s.stderrTTY }

// CanPrompt is true when a person can answer a question: only then may a
// mutating command go ahead without --yes.
func (s *IOStreams) CanPrompt() bool { return s.stdinTTY && s.stderrTTY }

// ColorEnabled is true when colour escape codes may be written to stdout.
func (s *IOStreams) ColorEnabled() bool { return !s.NoColor && s.stdoutTTY }

// Infof writes a line of chatter to stderr.
func (s *IOStreams) Infof(format string, args ...any) {
	fmt.Fprintf(s.ErrOut, format+"\n", args...)
}

// Waiter reports a long wait. On a terminal it redraws one spinner line; in
// a pipe or CI log it prints Terraform-style "still waiting" lines every
// interval so logs stay short but show life.
type Waiter struct {
	s        *IOStreams
	label    string
	start    time.Time
	interval time.Duration
	stop     chan struct{}
	done     sync.WaitGroup
}

// StillWaitingInterval is how often a non-terminal gets a progress line.
var StillWaitingInterval = 10 * time.Second

// StartWait begins reporting progress for label until Stop is called.
func (s *IOStreams) StartWait(label string) *Waiter {
	w := &Waiter{s: s, label: label, start: time.Now(), interval: StillWaitingInterval, stop: make(chan struct{})}
	w.done.Add(1)
	go w.loop()
	return w
}

func (w *Waiter) loop() {
	defer w.done.Done()
	tty := w.s.stderrTTY && w.s.stdoutTTY
	tick := w.interval
	if tty {
		tick = 120 * time.Millisecond
	}
	frames := []rune("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")
	t := time.NewTicker(tick)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-w.stop:
			if tty {
				fmt.Fprint(w.s.ErrOut, "\r\033[K")
			}
			return
		case <-t.C:
			elapsed := time.Since(w.start).Round(time.Second)
			if tty {
				fmt.Fprintf(w.s.ErrOut, "\r\033[K%c %s [%s elapsed]", frames[i%len(frames)], w.label, FormatElapsed(elapsed))
			} else {
				fmt.Fprintf(w.s.ErrOut, "%s: still waiting... [%s elapsed]\n", w.label, FormatElapsed(elapsed))
			}
		}
	}
}

// Stop ends the progress report.
func (w *Waiter) Stop() {
	close(w.stop)
	w.done.Wait()
}

// FormatElapsed renders a duration as Terraform does: 01m05s.
func FormatElapsed(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%02dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
}
