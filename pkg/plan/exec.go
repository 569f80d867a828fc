package plan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Exec is what a step gets to do its work. Env is the caller's own context
// (AWS clients, options, freshly observed state); the plan package does not
// need to know its shape.
type Exec struct {
	Env any
	Log io.Writer
	// Refresh brings the observed state up to date before each step, so a
	// step sees what earlier steps (or an earlier, interrupted run) really
	// did. It need not read everything again: ladder.Env's reads only what
	// the calls made since could have changed (observe.Observer).
	Refresh func(ctx context.Context) error
	// WaitLabel shows progress during long waits.
	StartWait func(label string) (stop func())
	// StepStarted, when set, is told as each step begins (after the fresh
	// observation, before the step acts): --probe uses it to charge what
	// users saw to the step that caused it.
	StepStarted func(i int, s *Step)

	// stopping is Run's own context: done at the first Ctrl-C.
	stopping context.Context
}

// Stopping is closed when the user asked the run to stop (the first
// Ctrl-C). A step gets a context that ignores it, so nothing is left
// half-made; a step that only waits (and changes nothing while it does)
// watches this too, so a long wait ends at once and a re-run waits only
// what is left.
func (x *Exec) Stopping() <-chan struct{} {
	if x.stopping == nil {
		return nil
	}
	return x.stopping.Done()
}

// StopCause is the reason Stopping closed, for a waiting step to return:
// Run then reports the run as interrupted rather than failed.
func (x *Exec) StopCause() error {
	if x.stopping == nil {
		return nil
	}
	return x.stopping.Err()
}

// Logf writes one progress line.
func (x *Exec) Logf(format string, args ...any) {
	if x.Log != nil {
		fmt.Fprintf(x.Log, "    "+format+"\n", args...)
	}
}

// Interrupted is returned when the run stopped at a safe point because the
// user asked it to (Ctrl-C) or a deadline passed.
type Interrupted struct {
	Done, Total int
	Next        *Step
	Cause       error
}

func (e *Interrupted) Error() string {
	msg := fmt.Sprintf("stopped after %d of %d steps", e.Done, e.Total)
	if e.Next != nil {
		msg += fmt.Sprintf("; not started: %s %s", e.Next.Action, e.Next.Resource)
	}
	return msg + "; run the same command again to finish (every step checks what exists first)"
}

func (e *Interrupted) Unwrap() error { return e.Cause }

// StepError says which step failed and how to resume.
type StepError struct {
	Index, Total int
	Step         *Step
	Err          error
}

func (e *StepError) Error() string {
	return fmt.Sprintf("step %d of %d (%s %s) failed: %v\n  the steps before it are done; fix the cause and run the same command again to continue",
		e.Index, e.Total, e.Step.Action, e.Step.Resource, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }

// Run executes the plan's steps in order, one line per step. It stops at the
// first failure, and between steps when ctx is cancelled: a step is never
// abandoned half-way by Ctrl-C, because the context it gets is detached from
// cancellation (it still has the overall deadline through stepCtx).
func Run(ctx context.Context, p *Plan, x *Exec, stepCtx func() (context.Context, context.CancelFunc)) error {
	total := len(p.Steps)
	killAt := testKillAtStep()
	x.stopping = ctx
	for i, s := range p.Steps {
		crashIfAt(killAt, i+1)
		if err := ctx.Err(); err != nil {
			return &Interrupted{Done: i, Total: total, Next: s, Cause: err}
		}
		start := time.Now()
		if x.Log != nil {
			fmt.Fprintf(x.Log, "[%d/%d] %s %s\n", i+1, total, s.Action, s.Resource)
		}
		sctx, cancel := stepCtx()
		err := func() error {
			defer cancel()
			if x.Refresh != nil {
				if err := x.Refresh(sctx); err != nil {
					return fmt.Errorf("observing AWS: %w", err)
				}
			}
			if x.StepStarted != nil {
				x.StepStarted(i, s)
			}
			return s.Do(sctx, x)
		}()
		if err != nil {
			if errors.Is(err, context.Canceled) && ctx.Err() != nil {
				return &Interrupted{Done: i, Total: total, Next: s, Cause: err}
			}
			return &StepError{Index: i + 1, Total: total, Step: s, Err: err}
		}
		if x.Log != nil {
			fmt.Fprintf(x.Log, "      done (%s)\n", time.Since(start).Round(time.Millisecond))
		}
	}
	crashIfAt(killAt, total+1)
	return nil
}
