// Package cmdutil holds what every command shares about failing: the error
// kinds and the one place that maps them to exit codes.
package cmdutil

import (
	"errors"
	"fmt"
)

// Exit codes are part of the command-line contract that runbooks rely on.
const (
	ExitOK      = 0
	ExitFailure = 1
	// ExitBadInput means the invocation was refused before any AWS resource
	// changed. `plan --detailed-exitcode` reuses 2 for "changes pending", as
	// Terraform does.
	ExitBadInput = 2
)

// UsageError is bad input: a wrong flag, value or combination. It always
// carries the fix, so the message reads "what is wrong; what to do".
type UsageError struct {
	Problem string
	Fix     string
}

func (e *UsageError) Error() string {
	if e.Fix == "" {
		return e.Problem
	}
	return e.Problem + "\n  fix: " + e.Fix
}

// Usagef builds a UsageError; fix may be empty when the problem says it all.
func Usagef(fix, format string, args ...any) error {
	return &UsageError{Problem: fmt.Sprintf(format, args...), Fix: fix}
}

// ExitError carries an explicit exit code without a message of its own (for
// example "changes pending" from plan --detailed-exitcode).
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// IsUsage reports whether err is bad input.
func IsUsage(err error) bool {
	var u *UsageError
	return errors.As(err, &u)
}

// ExitCode maps an error returned by a command to the process exit code.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	if IsUsage(err) {
		return ExitBadInput
	}
	return ExitFailure
}
