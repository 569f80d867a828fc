package probe

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/whatsthetime/wtt/pkg/plan"
)

// serveAt starts a fake time server on ip:port (port 0: any), so two
// "instances" can share a port on different loopback addresses as two
// instances share port 80 on AWS.
func serveAt(t *testing.T, ip string, port int, instance, az string) (*http.Server, int) {
	t.Helper()
	ln, err := net.Listen("tcp", fmt.Sprintf("%s:%d", ip, port))
	if err != nil {
		t.Skipf("cannot listen on %s (loopback aliases needed): %v", ip, err)
	}
	h := timeServer(t, instance, az).Config.Handler
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return srv, ln.Addr().(*net.TCPAddr).Port
}

// The dns rung's story in small: a record moves from one instance to
// another and the first one goes away. A client that cached the record
// keeps sending to the old address until the TTL runs out; those failures
// are at an address the app no longer publishes, and the claim holds only
// because the step that removed it said so (StaleFor: the TTL).
func TestProbeSeesACachedAddressUntilTheTTL(t *testing.T) {
	f := startDNS(t)
	oldSrv, port := serveAt(t, "127.0.0.2", 0, "i-old", "us-east-1a")
	serveAt(t, "127.0.0.3", port, "i-new", "us-east-1b")
	f.set("api.example.com", 1, "127.0.0.2")

	target, _ := ParseTarget(fmt.Sprintf("http://api.example.com:%d/api/time?tz=UTC", port))
	p, err := New(Config{Rate: 50, Resolver: f.Addr, Tail: 300 * time.Millisecond}, target)
	if err != nil {
		t.Fatal(err)
	}
	p.StepStarted("~ DNS record api.example.com drops i-old", &plan.Step{})
	p.Start()
	time.Sleep(300 * time.Millisecond)
	f.set("api.example.com", 1, "127.0.0.3")
	p.StepStarted("- 1 instance(s), newest first: i-old", &plan.Step{StaleFor: time.Second})
	time.Sleep(50 * time.Millisecond) // requests of step 1 still in flight finish
	oldSrv.Close()
	time.Sleep(1500 * time.Millisecond)
	m := p.Stop(false)
	r := m.Report("scale")

	if r.Failed == 0 || r.Failures["refused"] != r.Failed || r.StaleAddress != r.Failed {
		t.Errorf("failed %d %v, %d at a stale address; want some, all refused and stale", r.Failed, r.Failures, r.StaleAddress)
	}
	if r.LongestOutageSeconds > 1.3 {
		t.Errorf("longest outage %.2fs: the cached answer should have expired after 1 s", r.LongestOutageSeconds)
	}
	if !r.ClaimHeld || r.ServedBy.Instances["i-old"] == 0 || r.ServedBy.Instances["i-new"] == 0 || r.ServedBy.AZs["us-east-1b"] == 0 {
		t.Errorf("claim held %v (%s), served by %v", r.ClaimHeld, r.Verdict, r.ServedBy)
	}
	if r.ByStep[1].Failed != r.Failed {
		t.Errorf("failures by step %+v: want all in step 2", r.ByStep)
	}
	if last := m.results[len(m.results)-1]; last.kind != OK {
		t.Errorf("the last request %q: the probe should have moved to the new address", last.kind)
	}
	// The same measurement, from a plan that said nothing about the TTL.
	m.steps[1].staleFor = 0
	if r := m.Report("scale"); r.ClaimHeld || !strings.Contains(r.Verdict, "did not warn") {
		t.Errorf("unwarned: held %v (%s)", r.ClaimHeld, r.Verdict)
	}
	if q := p.resolver.Queries(); q > 20 {
		t.Errorf("%d DNS queries in 2 s: the cache should keep it to a few", q)
	}
}

// A scale-out at stage dns: the record lists a new instance before its
// time server answers. Clients sent there are refused until it does; those
// failures are at an address the step had just published, and the claim
// holds only because the step said so (UnreadyFor).
func TestProbeSeesANewAddressRefuseUntilItAnswers(t *testing.T) {
	f := startDNS(t)
	_, port := serveAt(t, "127.0.0.8", 0, "i-old", "us-east-1a")
	f.set("api.example.com", 1, "127.0.0.8")
	target, _ := ParseTarget(fmt.Sprintf("http://api.example.com:%d/api/time?tz=UTC", port))
	p, err := New(Config{Rate: 50, Resolver: f.Addr, Tail: 200 * time.Millisecond}, target)
	if err != nil {
		t.Fatal(err)
	}
	p.Start()
	time.Sleep(200 * time.Millisecond)
	p.StepStarted("~ DNS record api.example.com lists the 2 instance address(es)", &plan.Step{UnreadyFor: 3 * time.Second})
	f.set("api.example.com", 1, "127.0.0.8", "127.0.0.9") // nothing answers on .9 yet
	time.Sleep(1500 * time.Millisecond)                   // the cached answer expires after 1 s
	serveAt(t, "127.0.0.9", port, "i-new", "us-east-1b")
	time.Sleep(500 * time.Millisecond)
	m := p.Stop(false)
	r := m.Report("scale")

	if r.Failed == 0 || r.Failures["refused"] != r.Failed || r.NewAddress != r.Failed || r.StaleAddress != 0 {
		t.Errorf("failed %d %v, %d at a new address, %d at a stale one; want some, all refused at the new address", r.Failed, r.Failures, r.NewAddress, r.StaleAddress)
	}
	if !r.ClaimHeld || r.ServedBy.Instances["i-old"] == 0 || r.ServedBy.Instances["i-new"] == 0 {
		t.Errorf("claim held %v (%s), served by %v", r.ClaimHeld, r.Verdict, r.ServedBy)
	}
	// The same measurement, from a plan that said nothing about new
	// addresses.
	m.steps[0].unreadyFor = 0
	if r := m.Report("scale"); r.ClaimHeld || !strings.Contains(r.Verdict, "said no downtime") {
		t.Errorf("unwarned: held %v (%s)", r.ClaimHeld, r.Verdict)
	}
}

// Bare addresses: requests go to each in turn; one that is no longer
// published (after a step's observation) counts as stale.
func TestProbeSpreadsOverAddresses(t *testing.T) {
	a, port := serveAt(t, "127.0.0.4", 0, "i-a", "us-east-1a")
	serveAt(t, "127.0.0.5", port, "i-b", "us-east-1b")
	target, _ := ParseTarget(fmt.Sprintf("http://127.0.0.4:%d/api/time?tz=UTC", port))
	target.Addresses = []netip.Addr{netip.MustParseAddr("127.0.0.4"), netip.MustParseAddr("127.0.0.5")}
	p, err := New(Config{Rate: 50, Tail: 200 * time.Millisecond}, target)
	if err != nil {
		t.Fatal(err)
	}
	p.StepStarted("~ one", &plan.Step{})
	p.Start()
	time.Sleep(300 * time.Millisecond)
	a.Close()
	p.SetPublished([]netip.Addr{netip.MustParseAddr("127.0.0.5")})
	time.Sleep(300 * time.Millisecond)
	r := p.Stop(false).Report("scale")
	if r.ServedBy.Instances["i-a"] == 0 || r.ServedBy.Instances["i-b"] == 0 {
		t.Errorf("served by %v: want both", r.ServedBy.Instances)
	}
	if r.Failed == 0 || r.StaleAddress != r.Failed {
		t.Errorf("failed %d, stale %d: want every failure at the unpublished address", r.Failed, r.StaleAddress)
	}
	if r.Requests < 20 || r.Requests > 60 {
		t.Errorf("%d requests in about 0.8 s at 50/s", r.Requests)
	}
}

// A run that ends while clients still fail at a cached address is followed
// until the cached answer runs out, so the report shows the failures end.
func TestStopFollowsACachedAnswerToItsEnd(t *testing.T) {
	f := startDNS(t)
	oldSrv, port := serveAt(t, "127.0.0.6", 0, "i-old", "us-east-1a")
	serveAt(t, "127.0.0.7", port, "i-new", "us-east-1a")
	f.set("api.example.com", 2, "127.0.0.6")
	target, _ := ParseTarget(fmt.Sprintf("http://api.example.com:%d/api/time?tz=UTC", port))
	p, err := New(Config{Rate: 20, Resolver: f.Addr, Tail: 100 * time.Millisecond}, target)
	if err != nil {
		t.Fatal(err)
	}
	p.StepStarted("- instance i-old", &plan.Step{StaleFor: 2 * time.Second})
	p.Start()
	time.Sleep(200 * time.Millisecond)
	f.set("api.example.com", 2, "127.0.0.7")
	oldSrv.Close()
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	r := p.Stop(false).Report("scale")
	if !r.AnsweringAtEnd || r.Failed == 0 || r.StaleAddress != r.Failed || !r.ClaimHeld {
		t.Errorf("answering at end %v, failed %d (stale %d), held %v (%s)", r.AnsweringAtEnd, r.Failed, r.StaleAddress, r.ClaimHeld, r.Verdict)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Stop took %s; the TTL was 2 s", d)
	}
}

func TestStaleAddressesAreJudgedByTheNextObservation(t *testing.T) {
	a, b := netip.MustParseAddr("127.1.0.1"), netip.MustParseAddr("127.2.0.1")
	pubs := []publication{
		{at: t0, addrs: map[netip.Addr]bool{a: true}},
		{at: t0.Add(10 * time.Second), addrs: map[netip.Addr]bool{b: true}},
		{at: t0.Add(20 * time.Second), addrs: map[netip.Addr]bool{}},
	}
	rs := []result{
		{at: t0.Add(5 * time.Second), kind: Refused, addr: a},  // a is gone by the next observation
		{at: t0.Add(12 * time.Second), kind: Refused, addr: b}, // the app is gone: not an old address
		{at: t0.Add(25 * time.Second), kind: Refused, addr: b}, // after the last observation, which has none
		{at: t0.Add(5 * time.Second), kind: OK, addr: a},
	}
	markStaleAddresses(rs, pubs)
	if !rs[0].stale || rs[1].stale || rs[2].stale || rs[3].stale {
		t.Errorf("stale: %v %v %v %v; want true false false false", rs[0].stale, rs[1].stale, rs[2].stale, rs[3].stale)
	}
}
