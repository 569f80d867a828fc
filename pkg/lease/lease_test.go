package lease

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"
)

// fakeSSM is one SSM parameter store holding at most the lease, with AWS's
// rules for it: create-only-if-absent, no tags with Overwrite, not-found
// errors on a missing name.
type fakeSSM struct {
	mu       sync.Mutex
	value    *string
	tags     []ssmtypes.Tag
	modified time.Time

	creates, overwrites, deletes, gets int
	putErr                             error
	// loseCreateAnswer applies the next create, then answers as the SDK's
	// retry of it would: ParameterAlreadyExists (the first answer was lost).
	loseCreateAnswer bool
	// beforeGet runs (unlocked) before each GetParameter answers, to play
	// another operator acting between our calls.
	beforeGet func(n int)
}

func (f *fakeSSM) GetParameter(ctx context.Context, in *ssm.GetParameterInput, _ ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	f.mu.Lock()
	f.gets++
	n, hook := f.gets, f.beforeGet
	f.mu.Unlock()
	if hook != nil {
		hook(n)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.value == nil {
		return nil, &ssmtypes.ParameterNotFound{Message: aws.String("not found")}
	}
	return &ssm.GetParameterOutput{Parameter: &ssmtypes.Parameter{
		Name: in.Name, Value: aws.String(*f.value), LastModifiedDate: aws.Time(f.modified),
	}}, nil
}

func (f *fakeSSM) PutParameter(ctx context.Context, in *ssm.PutParameterInput, _ ...func(*ssm.Options)) (*ssm.PutParameterOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.putErr != nil {
		return nil, f.putErr
	}
	overwrite := aws.ToBool(in.Overwrite)
	if overwrite && len(in.Tags) > 0 {
		return nil, &smithy.GenericAPIError{Code: "ValidationException", Message: "tags and overwrite cannot both be given"}
	}
	if f.value != nil && !overwrite {
		return nil, &ssmtypes.ParameterAlreadyExists{Message: aws.String("exists")}
	}
	if overwrite {
		f.overwrites++
	} else {
		f.creates++
		f.tags = in.Tags
	}
	f.value = aws.String(aws.ToString(in.Value))
	f.modified = time.Now()
	if !overwrite && f.loseCreateAnswer {
		f.loseCreateAnswer = false
		return nil, &ssmtypes.ParameterAlreadyExists{Message: aws.String("exists")}
	}
	return &ssm.PutParameterOutput{}, nil
}

func (f *fakeSSM) DeleteParameter(ctx context.Context, in *ssm.DeleteParameterInput, _ ...func(*ssm.Options)) (*ssm.DeleteParameterOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.value == nil {
		return nil, &ssmtypes.ParameterNotFound{Message: aws.String("not found")}
	}
	f.deletes++
	f.value = nil
	return &ssm.DeleteParameterOutput{}, nil
}

// set stores a record as another operator would.
func (f *fakeSSM) set(t *testing.T, r Record) {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	f.setRaw(string(b))
}

func (f *fakeSSM) setRaw(v string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.value = aws.String(v)
	f.modified = time.Now()
}

func (f *fakeSSM) clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.value = nil
}

// record decodes what is stored; ok is false when nothing is.
func (f *fakeSSM) record(t *testing.T) (Record, bool) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.value == nil {
		return Record{}, false
	}
	var r Record
	if err := json.Unmarshal([]byte(*f.value), &r); err != nil {
		t.Fatalf("stored lease is not JSON: %v", err)
	}
	return r, true
}

func (f *fakeSSM) counts() (creates, overwrites, deletes int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.creates, f.overwrites, f.deletes
}

// syncBuffer is a log safe to write from the heartbeat goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var now = time.Date(2026, 11, 25, 20, 6, 2, 0, time.UTC)

const thisHost = "laptop"

func newLocker(api API, log *syncBuffer) *Locker {
	return &Locker{
		API: api, Name: "/wtt/whatsthetime/lease", App: "whatsthetime",
		Me:    Identity{User: "bob", Host: thisHost, PID: 100},
		Log:   log,
		Poll:  5 * time.Millisecond,
		Now:   func() time.Time { return now },
		Alive: func(pid int) bool { return pid != 999999 },
	}
}

// alice holds the lease from another host, live and unexpired at the
// tests' fixed clock.
func alice() Record { return aliceAt(now) }

// aliceAt is alice's lease as seen at t, for tests that run on the real
// clock.
func aliceAt(t time.Time) Record {
	return Record{
		Holder: "alice@host1", Host: "host1", PID: 4242, Operation: "migrate --to=alb",
		Since: t.Add(-5 * time.Minute), Expires: t.Add(10 * time.Minute), ID: "alice-run",
	}
}

func TestAcquireFreeLeaseAndRelease(t *testing.T) {
	api, log := &fakeSSM{}, &syncBuffer{}
	l := newLocker(api, log)
	held, err := l.Acquire(context.Background(), Options{Operation: "migrate --to=eip"})
	if err != nil {
		t.Fatal(err)
	}
	r, ok := api.record(t)
	if !ok {
		t.Fatal("no lease parameter after Acquire")
	}
	want := Record{Holder: "bob@laptop", Host: thisHost, PID: 100, Operation: "migrate --to=eip",
		Since: now, Expires: now.Add(DefaultTTL), ID: r.ID}
	if r != want || len(r.ID) != 32 {
		t.Errorf("stored %+v, want %+v with a 32-hex-digit id", r, want)
	}
	tags := map[string]string{}
	for _, tg := range api.tags {
		tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	if tags["wtt:app"] != "whatsthetime" || tags["wtt:managed-by"] != "wtt" {
		t.Errorf("tags %v, want wtt:app and wtt:managed-by", tags)
	}
	if err := held.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := api.record(t); ok {
		t.Error("lease still stored after Release")
	}
	if log.String() != "" {
		t.Errorf("a free lease logged %q", log.String())
	}
}

// A create whose answer is lost is retried by the SDK, and the retry finds
// the parameter the first attempt wrote. That lease is ours, not someone
// else's: the run must take it, not fail naming itself as the holder.
func TestLostCreateAnswerAdoptsOwnLease(t *testing.T) {
	api, log := &fakeSSM{loseCreateAnswer: true}, &syncBuffer{}
	l := newLocker(api, log)
	held, err := l.Acquire(context.Background(), Options{Operation: "migrate --to=dns"})
	if err != nil {
		t.Fatalf("Acquire after a lost create answer: %v", err)
	}
	if api.creates != 1 || api.deletes != 0 {
		t.Errorf("%d creates and %d deletes; want the one create adopted, nothing broken", api.creates, api.deletes)
	}
	if log.String() != "" {
		t.Errorf("adopting our own lease logged %q", log.String())
	}
	if err := held.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := api.record(t); ok {
		t.Error("lease still stored after Release")
	}
}

func TestValueIsRFC3339JSON(t *testing.T) {
	api := &fakeSSM{}
	held, err := newLocker(api, &syncBuffer{}).Acquire(context.Background(), Options{Operation: "down"})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release(context.Background())
	for _, want := range []string{`"holder":"bob@laptop"`, `"host":"laptop"`, `"pid":100`, `"operation":"down"`,
		`"since":"2026-11-25T20:06:02Z"`, `"expires":"2026-11-25T20:21:02Z"`, `"id":"`} {
		if !strings.Contains(*api.value, want) {
			t.Errorf("value %s lacks %s", *api.value, want)
		}
	}
}

func TestHeldByLiveOtherFailsNamingHolder(t *testing.T) {
	api, log := &fakeSSM{}, &syncBuffer{}
	api.set(t, alice())
	_, err := newLocker(api, log).Acquire(context.Background(), Options{Operation: "up"})
	var held *HeldError
	if !errors.As(err, &held) {
		t.Fatalf("got %v, want a HeldError", err)
	}
	want := `app whatsthetime is locked by alice@host1 (pid 4242, "migrate --to=alb") since 2026-11-25T20:01:02Z (5m ago); wait with --lock-timeout 10m, or if that run is gone, --force-unlock`
	if err.Error() != want {
		t.Errorf("error:\n got %s\nwant %s", err, want)
	}
	if r, _ := api.record(t); r.ID != "alice-run" {
		t.Errorf("alice's lease was replaced by %+v", r)
	}
	if _, _, d := api.counts(); d != 0 {
		t.Errorf("%d delete(s) of a live lease", d)
	}
}

func TestHeldByLiveProcessOnThisHost(t *testing.T) {
	api := &fakeSSM{}
	r := alice()
	r.Host, r.Holder, r.PID = thisHost, "alice@laptop", 4242 // alive per newLocker
	api.set(t, r)
	_, err := newLocker(api, &syncBuffer{}).Acquire(context.Background(), Options{})
	var held *HeldError
	if !errors.As(err, &held) {
		t.Fatalf("got %v, want a HeldError: a live process on this host holds it", err)
	}
}

func TestDeadProcessOnThisHostIsBroken(t *testing.T) {
	api, log := &fakeSSM{}, &syncBuffer{}
	r := alice()
	r.Host, r.Holder, r.PID = thisHost, "alice@laptop", 999999
	api.set(t, r)
	held, err := newLocker(api, log).Acquire(context.Background(), Options{Operation: "up"})
	if err != nil {
		t.Fatalf("a lease of a dead process on this host blocked the run: %v", err)
	}
	defer held.Release(context.Background())
	if got, _ := api.record(t); got.ID != held.Record().ID || got.Holder != "bob@laptop" {
		t.Errorf("stored %+v, want ours", got)
	}
	for _, want := range []string{"Broke the stale lease on app whatsthetime held by alice@laptop (pid 999999", "process 999999 no longer runs on this host"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log %q lacks %q", log.String(), want)
		}
	}
}

func TestDeadPIDOnAnotherHostIsNotJudged(t *testing.T) {
	api := &fakeSSM{}
	r := alice()
	r.PID = 999999 // "dead" here, but it runs on host1, whose processes we cannot see
	api.set(t, r)
	if _, err := newLocker(api, &syncBuffer{}).Acquire(context.Background(), Options{}); err == nil {
		t.Fatal("broke a lease held on another host because its pid is unknown here")
	}
}

func TestExpiredLeaseIsBroken(t *testing.T) {
	api, log := &fakeSSM{}, &syncBuffer{}
	r := alice()
	r.Expires = now.Add(-2 * time.Minute)
	api.set(t, r)
	held, err := newLocker(api, log).Acquire(context.Background(), Options{})
	if err != nil {
		t.Fatalf("an expired lease blocked the run: %v", err)
	}
	defer held.Release(context.Background())
	if !strings.Contains(log.String(), "it expired at 2026-11-25T20:04:02Z (2m ago) without being renewed") {
		t.Errorf("log %q does not say the lease expired", log.String())
	}
}

func TestForceUnlockBreaksLiveLeaseLoudly(t *testing.T) {
	api, log := &fakeSSM{}, &syncBuffer{}
	api.set(t, alice())
	held, err := newLocker(api, log).Acquire(context.Background(), Options{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release(context.Background())
	if got, _ := api.record(t); got.ID != held.Record().ID {
		t.Errorf("stored %+v, want ours", got)
	}
	if !strings.Contains(log.String(), `WARNING: --force-unlock: breaking the lease on app whatsthetime held by alice@host1 (pid 4242, "migrate --to=alb") since 2026-11-25T20:01:02Z`) {
		t.Errorf("log %q does not warn about the forced unlock", log.String())
	}
}

func TestLockTimeoutWaitsThenAcquiresWhenReleased(t *testing.T) {
	api, log := &fakeSSM{}, &syncBuffer{}
	api.set(t, aliceAt(time.Now()))
	// Alice finishes after a few of our polls.
	api.beforeGet = func(n int) {
		if n == 4 {
			api.clear()
		}
	}
	l := newLocker(api, log)
	l.Now = time.Now // the wait is measured against the clock
	var started, stopped bool
	l.Progress = func(label string) func() {
		started = true
		return func() { stopped = true }
	}
	held, err := l.Acquire(context.Background(), Options{Wait: 5 * time.Second})
	if err != nil {
		t.Fatalf("waiting with --lock-timeout: %v", err)
	}
	defer held.Release(context.Background())
	if !started || !stopped {
		t.Errorf("progress started=%v stopped=%v, want both", started, stopped)
	}
	if !strings.Contains(log.String(), `App whatsthetime is locked by alice@host1 (pid 4242, "migrate --to=alb")`) ||
		!strings.Contains(log.String(), "waiting up to 5s") {
		t.Errorf("log %q does not say whom it waits for", log.String())
	}
}

func TestLockTimeoutGivesUp(t *testing.T) {
	api := &fakeSSM{}
	api.set(t, aliceAt(time.Now()))
	l := newLocker(api, &syncBuffer{})
	l.Now = time.Now
	l.Poll = 10 * time.Millisecond
	start := time.Now()
	_, err := l.Acquire(context.Background(), Options{Wait: 60 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "is still locked by alice@host1") || !strings.Contains(err.Error(), "after waiting") {
		t.Fatalf("got %v, want 'still locked ... after waiting'", err)
	}
	if time.Since(start) < 60*time.Millisecond {
		t.Errorf("gave up after %s, before the lock timeout", time.Since(start))
	}
}

func TestWaitStopsWhenContextEnds(t *testing.T) {
	api := &fakeSSM{}
	api.set(t, aliceAt(time.Now()))
	l := newLocker(api, &syncBuffer{})
	l.Now = time.Now
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	_, err := l.Acquire(ctx, Options{Wait: time.Hour})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the context's deadline", err)
	}
}

func TestReleaseLeavesSomeoneElsesLease(t *testing.T) {
	api, log := &fakeSSM{}, &syncBuffer{}
	l := newLocker(api, log)
	held, err := l.Acquire(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	api.set(t, alice()) // alice forced the lock while we ran
	if err := held.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, ok := api.record(t); !ok || got.ID != "alice-run" {
		t.Errorf("Release removed or changed alice's lease: %+v (present %v)", got, ok)
	}
	if _, _, d := api.counts(); d != 0 {
		t.Errorf("%d delete(s), want 0", d)
	}
	if !held.Lost() || !strings.Contains(log.String(), "now held by alice@host1") {
		t.Errorf("lost=%v, log %q: want the takeover reported", held.Lost(), log.String())
	}
}

func TestReleaseOfDeletedLeaseIsQuiet(t *testing.T) {
	api, log := &fakeSSM{}, &syncBuffer{}
	held, err := newLocker(api, log).Acquire(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	api.clear()
	if err := held.Release(context.Background()); err != nil {
		t.Fatalf("releasing a lease already gone: %v", err)
	}
}

func TestHeartbeatRenewsWhileHeld(t *testing.T) {
	api, log := &fakeSSM{}, &syncBuffer{}
	l := newLocker(api, log)
	l.TTL = 60 * time.Millisecond // a renewal every 20ms
	var mu sync.Mutex
	clock := now
	l.Now = func() time.Time { // each reading a second later, so expiries visibly move
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(time.Second)
		return clock
	}
	held, err := l.Acquire(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	first := held.Record()
	deadline := time.Now().Add(5 * time.Second)
	for held.Renewals() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if err := held.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if held.Renewals() < 2 {
		t.Fatalf("%d renewal(s) in 5s with a 60ms TTL", held.Renewals())
	}
	last := held.Record()
	if last.ID != first.ID || !last.Expires.After(first.Expires) || !last.Since.Equal(first.Since) {
		t.Errorf("after renewals %+v, first %+v: want same id and since, later expiry", last, first)
	}
	if _, o, _ := api.counts(); o < 2 {
		t.Errorf("%d overwrite(s) in AWS, want >= 2", o)
	}
	if log.String() != "" {
		t.Errorf("renewals logged %q", log.String())
	}
}

func TestHeartbeatNeverOverwritesSomeoneElse(t *testing.T) {
	api, log := &fakeSSM{}, &syncBuffer{}
	l := newLocker(api, log)
	l.TTL = 30 * time.Millisecond
	held, err := l.Acquire(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	api.set(t, alice())
	deadline := time.Now().Add(5 * time.Second)
	for !held.Lost() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if !held.Lost() {
		t.Fatal("heartbeat did not notice the takeover")
	}
	if got, _ := api.record(t); got.ID != "alice-run" {
		t.Errorf("heartbeat overwrote alice's lease: %+v", got)
	}
	if !strings.Contains(log.String(), "WARNING") || !strings.Contains(log.String(), "alice@host1") {
		t.Errorf("log %q does not warn about the lost lease", log.String())
	}
	held.Release(context.Background())
}

func TestBreakingSkipsALeaseRenewedMeanwhile(t *testing.T) {
	api, log := &fakeSSM{}, &syncBuffer{}
	stale := alice()
	stale.Expires = now.Add(-time.Minute)
	api.set(t, stale)
	// Alice's heartbeat lands between our read and our re-read: she is alive.
	api.beforeGet = func(n int) {
		if n == 2 {
			api.set(t, alice())
		}
	}
	_, err := newLocker(api, log).Acquire(context.Background(), Options{})
	var held *HeldError
	if !errors.As(err, &held) {
		t.Fatalf("got %v, want a HeldError for the renewed lease", err)
	}
	if _, _, d := api.counts(); d != 0 {
		t.Errorf("deleted a lease renewed after we judged it stale")
	}
}

func TestUnreadableLeaseNeedsForce(t *testing.T) {
	api := &fakeSSM{}
	api.setRaw("locked by hand")
	_, err := newLocker(api, &syncBuffer{}).Acquire(context.Background(), Options{})
	if err == nil || !strings.Contains(err.Error(), "a lease wtt cannot read") {
		t.Fatalf("got %v, want a HeldError about an unreadable lease", err)
	}
	held, err := newLocker(api, &syncBuffer{}).Acquire(context.Background(), Options{Force: true})
	if err != nil {
		t.Fatalf("--force-unlock of an unreadable lease: %v", err)
	}
	held.Release(context.Background())
}

func TestOtherErrorsAreNotHeldErrors(t *testing.T) {
	api := &fakeSSM{putErr: &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "no ssm:PutParameter"}}
	_, err := newLocker(api, &syncBuffer{}).Acquire(context.Background(), Options{})
	var held *HeldError
	if err == nil || errors.As(err, &held) || !strings.Contains(err.Error(), "AccessDeniedException") ||
		!strings.Contains(err.Error(), "/wtt/whatsthetime/lease") {
		t.Fatalf("got %v, want the AWS error naming the parameter", err)
	}
}

func TestAgo(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second: "0s", 42 * time.Second: "42s", 5*time.Minute + 12*time.Second: "5m", 2*time.Hour + 7*time.Minute: "2h7m",
		76 * time.Hour: "3d4h",
	} {
		if got := ago(d); got != want {
			t.Errorf("ago(%s) = %s, want %s", d, got, want)
		}
	}
}

func TestCallsListEveryAction(t *testing.T) {
	want := map[string]bool{"ssm:PutParameter": true, "ssm:GetParameter": true, "ssm:DeleteParameter": true, "ssm:AddTagsToResource": true}
	if len(Calls) != len(want) {
		t.Fatalf("Calls = %v", Calls)
	}
	for _, c := range Calls {
		if !want[c] {
			t.Errorf("unexpected call %s", c)
		}
	}
}
