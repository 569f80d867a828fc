package probe

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"
)

func testResolver(t *testing.T, f *fakeDNS) (*Resolver, *clock) {
	t.Helper()
	r, err := NewResolver(f.Addr)
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	r.now = c.now
	return r, c
}

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

// An answer is kept for exactly its TTL: a changed record reaches the
// client only once the old answer has expired, as it does for a user.
func TestResolverCachesForTheTTL(t *testing.T) {
	f := startDNS(t)
	f.set("api.example.com", 30, "127.0.0.2", "127.0.0.3")
	r, c := testResolver(t, f)
	ctx := context.Background()

	got, ttl, err := r.Lookup(ctx, "api.example.com")
	if err != nil || !slices.Equal(got, addrs("127.0.0.2", "127.0.0.3")) || ttl != 30*time.Second {
		t.Fatalf("first lookup: %v, ttl %s, %v", got, ttl, err)
	}
	f.set("api.example.com", 30, "127.0.0.9")
	c.add(29 * time.Second)
	got, _, _ = r.Lookup(ctx, "API.example.com.")
	if !slices.Equal(got, addrs("127.0.0.2", "127.0.0.3")) {
		t.Errorf("29 s later: %v, want the cached old answer", got)
	}
	if n := f.count(); n != 1 {
		t.Errorf("%d queries within the TTL, want 1", n)
	}
	c.add(time.Second)
	got, _, _ = r.Lookup(ctx, "api.example.com")
	if !slices.Equal(got, addrs("127.0.0.9")) {
		t.Errorf("when the TTL ran out: %v, want the new answer", got)
	}
	if fresh, _ := r.Fresh(ctx, "api.example.com"); !slices.Equal(fresh, addrs("127.0.0.9")) {
		t.Errorf("fresh answer %v", fresh)
	}
	if n := f.count(); n != 3 {
		t.Errorf("%d queries, want 3 (two lookups past the TTL and one fresh)", n)
	}
}

// TTL 0 means "do not cache": every lookup asks.
func TestResolverTTLZeroIsNotCached(t *testing.T) {
	f := startDNS(t)
	f.set("api.example.com", 0, "127.0.0.2")
	r, _ := testResolver(t, f)
	for i := 0; i < 3; i++ {
		if _, _, err := r.Lookup(context.Background(), "api.example.com"); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.count(); n != 3 {
		t.Errorf("%d queries for 3 lookups of a TTL-0 record, want 3", n)
	}
}

// A name that is a CNAME (a record pointing at a load balancer's name)
// resolves to the target's addresses, cached for the shortest TTL in the
// chain.
func TestResolverFollowsCNAMEs(t *testing.T) {
	f := startDNS(t)
	f.set("lb-1.elb.test", 20, "127.0.0.5")
	f.alias("api.example.com", "lb-1.elb.test")
	r, _ := testResolver(t, f)
	got, ttl, err := r.Lookup(context.Background(), "api.example.com")
	if err != nil || !slices.Equal(got, addrs("127.0.0.5")) || ttl != 20*time.Second {
		t.Errorf("got %v, ttl %s, %v; want 127.0.0.5 for 20s", got, ttl, err)
	}
}

// NXDOMAIN is cached for the SOA's minimum (RFC 2308); a server that does
// not answer is not cached at all.
func TestResolverNegativeAnswersAndDeadServers(t *testing.T) {
	f := startDNS(t)
	r, c := testResolver(t, f)
	ctx := context.Background()
	_, _, err := r.Lookup(ctx, "gone.example.com")
	var de *DNSError
	if !errors.As(err, &de) || de.Reason != "no such name (NXDOMAIN)" {
		t.Fatalf("err %v, want NXDOMAIN", err)
	}
	f.set("gone.example.com", 60, "127.0.0.2")
	if _, _, err := r.Lookup(ctx, "gone.example.com"); err == nil {
		t.Error("within the negative TTL the name should still not resolve")
	}
	c.add(2 * time.Second)
	if got, _, err := r.Lookup(ctx, "gone.example.com"); err != nil || len(got) != 1 {
		t.Errorf("after the negative TTL: %v, %v", got, err)
	}

	dead, _ := NewResolver("127.0.0.1:1")
	dead.client.Timeout = 200 * time.Millisecond
	_, _, err = dead.Lookup(ctx, "api.example.com")
	if !errors.As(err, &de) || de.Name != "api.example.com" {
		t.Errorf("dead server: %v, want a DNSError", err)
	}
	if _, ok := dead.cache["api.example.com."]; ok {
		t.Error("a failed query was cached")
	}
	if classifyError(err) != DNS {
		t.Errorf("a resolution failure classifies as %q", classifyError(err))
	}
}
