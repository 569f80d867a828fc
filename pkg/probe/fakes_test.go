package probe

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// fakeDNS is a tiny authoritative server on loopback: A records and CNAMEs
// with their TTLs, changeable while a test runs; every other name is
// NXDOMAIN with an SOA whose minimum says how long to cache that.
type fakeDNS struct {
	Addr string

	mu      sync.Mutex
	a       map[string][]string // fqdn -> IPv4s
	cname   map[string]string   // fqdn -> fqdn
	ttl     uint32
	negTTL  uint32
	queries int
	srv     *dns.Server
}

func startDNS(t *testing.T) *fakeDNS {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeDNS{Addr: pc.LocalAddr().String(), a: map[string][]string{}, cname: map[string]string{}, ttl: 60, negTTL: 2}
	started := make(chan struct{})
	f.srv = &dns.Server{PacketConn: pc, Handler: f, NotifyStartedFunc: func() { close(started) }}
	go f.srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { f.srv.Shutdown() })
	return f
}

func (f *fakeDNS) set(name string, ttl uint32, ips ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.a[dns.Fqdn(name)] = ips
	f.ttl = ttl
}

func (f *fakeDNS) alias(name, target string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cname[dns.Fqdn(name)] = dns.Fqdn(target)
}

func (f *fakeDNS) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.queries
}

func (f *fakeDNS) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries++
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	name := strings.ToLower(req.Question[0].Name)
	for hops := 0; hops < 4; hops++ {
		if t, ok := f.cname[name]; ok {
			m.Answer = append(m.Answer, &dns.CNAME{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: f.ttl}, Target: t})
			name = t
			continue
		}
		break
	}
	ips, ok := f.a[name]
	if !ok && len(m.Answer) == 0 {
		m.Rcode = dns.RcodeNameError
		m.Ns = append(m.Ns, &dns.SOA{Hdr: dns.RR_Header{Name: "test.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 300},
			Ns: "ns.test.", Mbox: "admin.test.", Serial: 1, Refresh: 60, Retry: 60, Expire: 60, Minttl: f.negTTL})
	}
	for _, ip := range ips {
		m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: f.ttl}, A: net.ParseIP(ip)})
	}
	w.WriteMsg(m)
}

// timeServer answers /api/time as the real time server does, with its
// X-Served-By-* headers.
func timeServer(t *testing.T, instance, az string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now().UTC()
		w.Header().Set("X-Served-By-Instance", instance)
		w.Header().Set("X-Served-By-AZ", az)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"time":%q,"zone":"UTC","abbreviation":"UTC","offset":"+00:00","offsetSeconds":0,"dst":false,"unix":%d,"unixMillis":%d,"servedBy":{"instanceId":%q,"availabilityZone":%q}}`+"\n",
			now.Format("2006-01-02T15:04:05-07:00"), now.Unix(), now.UnixMilli(), instance, az)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// clock is a test's hand-moved time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
