// Package lease is the operator lease: one SSM parameter per app that a
// mutating run creates before it changes anything and deletes when it ends,
// so two operators (or two terminals) cannot walk the same app at once.
//
// The lease lives in AWS, not on disk, because the operators it keeps apart
// rarely share a disk. It is created only if absent (PutParameter with
// Overwrite=false fails with ParameterAlreadyExists), renewed by a heartbeat
// while the run lasts, and broken automatically only when its holder is
// provably gone: past its expiry, or a process on this very host that no
// longer exists.
//
// SSM has no compare-and-swap. Renewing, releasing and breaking therefore
// read the value, compare it with what they expect, then write or delete: a
// second writer acting inside that window (milliseconds) can still win. The
// create itself is atomic, which is what keeps two fresh runs apart.
package lease

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"

	"github.com/whatsthetime/wtt/pkg/names"
)

// Calls are the IAM actions the lease needs, for the policy generator.
// AddTagsToResource is never called directly, but IAM requires it for the
// Tags passed to PutParameter when the lease is created.
var Calls = []string{"ssm:PutParameter", "ssm:GetParameter", "ssm:DeleteParameter", "ssm:AddTagsToResource"}

// DefaultTTL is how long a lease lives without a heartbeat. Long enough that
// a paused laptop or a slow AWS call does not lose it; short enough that a
// lease left behind on another host stops blocking within the quarter hour.
var DefaultTTL = 15 * time.Minute

// DefaultPoll is how often a waiting run (--lock-timeout) looks again.
var DefaultPoll = 2 * time.Second

// API is the part of the SSM client the lease uses.
type API interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
	PutParameter(ctx context.Context, in *ssm.PutParameterInput, optFns ...func(*ssm.Options)) (*ssm.PutParameterOutput, error)
	DeleteParameter(ctx context.Context, in *ssm.DeleteParameterInput, optFns ...func(*ssm.Options)) (*ssm.DeleteParameterOutput, error)
}

// Record is the lease parameter's value: who holds the app, doing what,
// since when, and until when unless renewed.
type Record struct {
	Holder    string    `json:"holder"` // user@host
	Host      string    `json:"host"`
	PID       int       `json:"pid"`
	Operation string    `json:"operation"`
	Since     time.Time `json:"since"`
	Expires   time.Time `json:"expires"`
	ID        string    `json:"id"` // random per run: tells our lease from a successor's
}

// describe names the holder the way every message does.
func (r Record) describe() string {
	if r.Holder == "" {
		return "a lease wtt cannot read"
	}
	return fmt.Sprintf("%s (pid %d, %q)", r.Holder, r.PID, r.Operation)
}

// Identity is who takes a lease: the user, the host and this process.
type Identity struct {
	User string
	Host string
	PID  int
}

// CurrentIdentity describes this process.
func CurrentIdentity() Identity {
	id := Identity{User: os.Getenv("USER"), PID: os.Getpid()}
	if u, err := user.Current(); err == nil && u.Username != "" {
		id.User = u.Username
	}
	if id.User == "" {
		id.User = "unknown"
	}
	id.Host, _ = os.Hostname()
	if id.Host == "" {
		id.Host = "unknown-host"
	}
	return id
}

// Locker takes the lease of one app.
type Locker struct {
	API  API
	Name string // the parameter: names.For(app).LeaseParameter()
	App  string
	Me   Identity

	TTL  time.Duration // 0: DefaultTTL
	Poll time.Duration // 0: DefaultPoll
	// Log receives what the operator must know: a stale lease broken, a
	// forced unlock, a lost or unrenewable lease. Nil discards.
	Log io.Writer
	// Progress reports a long wait; it returns the function that ends the
	// report. Nil: no progress.
	Progress func(label string) (stop func())
	// Now and Alive are the clock and the process table; tests replace them.
	Now   func() time.Time
	Alive func(pid int) bool
}

// Options are the operator's choices for one acquisition.
type Options struct {
	Operation string        // what the run does, e.g. "migrate --to=alb"
	Wait      time.Duration // --lock-timeout: how long to wait for a held lease
	Force     bool          // --force-unlock: break whatever lease is there
}

// HeldError says the app is locked by a live holder.
type HeldError struct {
	App    string
	Holder Record
	Now    time.Time
	Waited time.Duration // 0: failed at once
}

func (e *HeldError) Error() string {
	since := ""
	if !e.Holder.Since.IsZero() {
		since = fmt.Sprintf(" since %s (%s ago)", e.Holder.Since.UTC().Format(time.RFC3339), ago(e.Now.Sub(e.Holder.Since)))
	}
	if e.Waited > 0 {
		return fmt.Sprintf("app %s is still locked by %s%s after waiting %s; wait longer with --lock-timeout, or if that run is gone, --force-unlock",
			e.App, e.Holder.describe(), since, e.Waited.Round(time.Second))
	}
	return fmt.Sprintf("app %s is locked by %s%s; wait with --lock-timeout 10m, or if that run is gone, --force-unlock",
		e.App, e.Holder.describe(), since)
}

// ago renders an age the way people say it: 42s, 5m, 2h7m, 3d4h.
func ago(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}

// maxBreaks bounds how often one acquisition breaks a lease: if the lease
// keeps coming back, someone else keeps taking it and it is not stale.
const maxBreaks = 3

// Acquire takes the lease, waiting up to o.Wait for a live holder, and
// starts its heartbeat. The caller must Release it.
func (l *Locker) Acquire(ctx context.Context, o Options) (*Lease, error) {
	start := l.now()
	breaks := 0
	var stopProgress func()
	defer func() {
		if stopProgress != nil {
			stopProgress()
		}
	}()
	for {
		rec, err := l.newRecord(o.Operation)
		if err != nil {
			return nil, err
		}
		err = l.create(ctx, rec)
		if err == nil {
			return l.hold(rec), nil
		}
		if !hasCode(err, "ParameterAlreadyExists") {
			return nil, fmt.Errorf("taking the operator lease %s: %w", l.Name, err)
		}

		cur, found, err := l.read(ctx)
		if err != nil {
			return nil, fmt.Errorf("reading the operator lease %s: %w", l.Name, err)
		}
		if !found {
			continue // released between our create and our read
		}
		if cur.rec.ID == rec.ID {
			// Our own create worked but its answer was lost, and the SDK's
			// retry found the parameter it had just written: the lease is ours.
			return l.hold(rec), nil
		}
		if breaks < maxBreaks {
			if reason := l.staleReason(cur.rec); reason != "" {
				l.logf("Broke the stale lease on app %s held by %s: %s.\n", l.App, cur.rec.describe(), reason)
				if err := l.breakLease(ctx, cur); err != nil {
					return nil, err
				}
				breaks++
				continue
			}
			if o.Force {
				l.logf("WARNING: --force-unlock: breaking the lease on app %s held by %s%s. If that run is still going, both runs may now change the app at once.\n",
					l.App, cur.rec.describe(), l.sinceText(cur.rec))
				if err := l.breakLease(ctx, cur); err != nil {
					return nil, err
				}
				breaks++
				continue
			}
		}

		waited := l.now().Sub(start)
		if waited >= o.Wait {
			return nil, &HeldError{App: l.App, Holder: cur.rec, Now: l.now(), Waited: o.Wait}
		}
		if stopProgress == nil {
			l.logf("App %s is locked by %s%s; waiting up to %s for it (--lock-timeout).\n",
				l.App, cur.rec.describe(), l.sinceText(cur.rec), o.Wait)
			if l.Progress != nil {
				stopProgress = l.Progress("Waiting for the lease on app " + l.App)
			}
		}
		if err := sleep(ctx, min(l.poll(), o.Wait-waited)); err != nil {
			return nil, fmt.Errorf("waiting for the lease on app %s held by %s: %w", l.App, cur.rec.describe(), err)
		}
	}
}

func (l *Locker) sinceText(r Record) string {
	if r.Since.IsZero() {
		return ""
	}
	return fmt.Sprintf(" since %s (%s ago)", r.Since.UTC().Format(time.RFC3339), ago(l.now().Sub(r.Since)))
}

// staleReason says why the holder is provably gone, or "" if it may be alive.
func (l *Locker) staleReason(r Record) string {
	now := l.now()
	if !r.Expires.IsZero() && now.After(r.Expires) {
		return fmt.Sprintf("it expired at %s (%s ago) without being renewed", r.Expires.UTC().Format(time.RFC3339), ago(now.Sub(r.Expires)))
	}
	if r.Host != "" && r.Host == l.Me.Host && r.PID > 0 && !l.alive(r.PID) {
		return fmt.Sprintf("process %d no longer runs on this host (%s)", r.PID, r.Host)
	}
	return ""
}

func (l *Locker) newRecord(operation string) (Record, error) {
	id, err := randomID()
	if err != nil {
		return Record{}, err
	}
	now := l.now().UTC().Truncate(time.Second)
	return Record{
		Holder: l.Me.User + "@" + l.Me.Host, Host: l.Me.Host, PID: l.Me.PID,
		Operation: operation, Since: now, Expires: now.Add(l.ttl()), ID: id,
	}, nil
}

func randomID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("making a lease id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// create puts the lease only if there is none; tags mark it as the app's.
func (l *Locker) create(ctx context.Context, r Record) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = l.API.PutParameter(ctx, &ssm.PutParameterInput{
		Name:        aws.String(l.Name),
		Value:       aws.String(string(v)),
		Type:        ssmtypes.ParameterTypeString,
		Overwrite:   aws.Bool(false),
		Description: aws.String("wtt operator lease for app " + l.App + ": deleted when the run ends"),
		Tags: []ssmtypes.Tag{
			{Key: aws.String(names.TagApp), Value: aws.String(l.App)},
			{Key: aws.String(names.TagManagedBy), Value: aws.String(names.ManagedBy)},
			{Key: aws.String(names.TagRole), Value: aws.String("lease")},
		},
	})
	return err
}

// observed is the lease as read: its record and the exact value, so that
// breaking it can check nobody renewed or replaced it in between.
type observed struct {
	rec Record
	raw string
}

func (l *Locker) read(ctx context.Context) (observed, bool, error) {
	out, err := l.API.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(l.Name)})
	if hasCode(err, "ParameterNotFound") {
		return observed{}, false, nil
	}
	if err != nil {
		return observed{}, false, err
	}
	if out.Parameter == nil {
		return observed{}, false, nil
	}
	o := observed{raw: aws.ToString(out.Parameter.Value)}
	if json.Unmarshal([]byte(o.raw), &o.rec) != nil || o.rec.ID == "" {
		// Someone else's value: no holder to judge, so only --force-unlock
		// breaks it. Its last change stands in for "since".
		o.rec = Record{Since: aws.ToTime(out.Parameter.LastModifiedDate)}
	}
	return o, true, nil
}

// breakLease deletes the lease seen, unless it changed since (renewed by a
// holder that is alive after all, or already replaced by another run).
func (l *Locker) breakLease(ctx context.Context, seen observed) error {
	cur, found, err := l.read(ctx)
	if err != nil {
		return fmt.Errorf("re-reading the lease %s before breaking it: %w", l.Name, err)
	}
	if !found || cur.raw != seen.raw {
		return nil
	}
	return l.delete(ctx)
}

func (l *Locker) delete(ctx context.Context) error {
	_, err := l.API.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String(l.Name)})
	if err != nil && !hasCode(err, "ParameterNotFound") {
		return fmt.Errorf("deleting the lease %s: %w", l.Name, err)
	}
	return nil
}

func (l *Locker) hold(r Record) *Lease {
	ls := &Lease{l: l, rec: r, stop: make(chan struct{}), done: make(chan struct{})}
	go ls.heartbeat()
	return ls
}

func (l *Locker) logf(format string, args ...any) {
	if l.Log != nil {
		fmt.Fprintf(l.Log, format, args...)
	}
}

func (l *Locker) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func (l *Locker) alive(pid int) bool {
	if l.Alive != nil {
		return l.Alive(pid)
	}
	return processAlive(pid)
}

func (l *Locker) ttl() time.Duration {
	if l.TTL > 0 {
		return l.TTL
	}
	return DefaultTTL
}

func (l *Locker) poll() time.Duration {
	if l.Poll > 0 {
		return l.Poll
	}
	return DefaultPoll
}

// Lease is a lease this process holds.
type Lease struct {
	l    *Locker
	mu   sync.Mutex
	rec  Record
	lost bool

	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
	renewals int
}

// Record is the lease's current value.
func (ls *Lease) Record() Record {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.rec
}

// Renewals counts successful heartbeats.
func (ls *Lease) Renewals() int {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.renewals
}

// Lost reports whether another run took the lease over while we held it.
func (ls *Lease) Lost() bool {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.lost
}

// errLost means the lease is no longer ours: renewing or deleting it would
// hurt whoever holds it now.
var errLost = errors.New("lease lost")

// heartbeat renews the lease every TTL/3, so two renewals can fail before
// another run may consider it expired.
func (ls *Lease) heartbeat() {
	defer close(ls.done)
	every := ls.l.ttl() / 3
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ls.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), every)
		err := ls.renew(ctx)
		cancel()
		switch {
		case errors.Is(err, errLost):
			ls.l.logf("WARNING: %v. Another run may now be changing app %s too: stop this one (Ctrl-C stops at the next step) and check `wtt status`.\n", err, ls.l.App)
			return
		case err != nil:
			ls.l.logf("Warning: could not renew the lease on app %s (will retry in %s): %v\n", ls.l.App, every.Round(time.Second), err)
		}
	}
}

// renew pushes the expiry out, after checking the lease is still ours.
func (ls *Lease) renew(ctx context.Context) error {
	l := ls.l
	cur, found, err := l.read(ctx)
	if err != nil {
		return err
	}
	mine := ls.Record()
	if err := ls.checkMine(cur, found, mine); err != nil {
		return err
	}
	next := mine
	next.Expires = l.now().UTC().Truncate(time.Second).Add(l.ttl())
	v, err := json.Marshal(next)
	if err != nil {
		return err
	}
	// Tags cannot accompany Overwrite; the parameter keeps those it was
	// created with.
	_, err = l.API.PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String(l.Name), Value: aws.String(string(v)),
		Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true),
	})
	if err != nil {
		return err
	}
	ls.mu.Lock()
	ls.rec = next
	ls.renewals++
	ls.mu.Unlock()
	return nil
}

// checkMine returns errLost (wrapped with who holds it now) unless the
// lease read is ours.
func (ls *Lease) checkMine(cur observed, found bool, mine Record) error {
	if found && cur.rec.ID == mine.ID {
		return nil
	}
	ls.mu.Lock()
	ls.lost = true
	ls.mu.Unlock()
	if !found {
		return fmt.Errorf("%w: the lease on app %s was deleted by someone else (--force-unlock?)", errLost, ls.l.App)
	}
	return fmt.Errorf("%w: the lease on app %s is now held by %s", errLost, ls.l.App, cur.rec.describe())
}

// Release stops the heartbeat and deletes the lease if it is still ours.
// A lease taken over by someone else is left to them.
func (ls *Lease) Release(ctx context.Context) error {
	ls.stopOnce.Do(func() { close(ls.stop) })
	<-ls.done
	cur, found, err := ls.l.read(ctx)
	if err != nil {
		return fmt.Errorf("reading the lease %s to release it: %w", ls.l.Name, err)
	}
	if err := ls.checkMine(cur, found, ls.Record()); err != nil {
		if found {
			ls.l.logf("Warning: %v; leaving it in place.\n", err)
		}
		return nil
	}
	return ls.l.delete(ctx)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func hasCode(err error, code string) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == code
}
