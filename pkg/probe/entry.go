package probe

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/whatsthetime/wtt/pkg/observe"
)

// DefaultPath is what the probe asks for: the time in UTC, whose JSON
// answer tells a right answer from anything else that says 200.
const DefaultPath = "/api/time?tz=UTC"

// Target is where the probe sends its requests.
type Target struct {
	URL *url.URL
	// Name is the host name to resolve; empty when the URL's host is an
	// address or the probe uses Addresses.
	Name string
	// Addresses are the instances' public addresses when the app has no
	// name: the probe spreads requests over them, as clients that were
	// given the list would.
	Addresses []netip.Addr
	// What says in words what is probed.
	What string
}

// ErrNoEntryPoint is returned when the app has nothing public to probe.
var ErrNoEntryPoint = errors.New("the app has no public entry point to probe (no DNS name, no load balancer, no instance with a public address)")

// EntryPoint picks the app's public entry point from what is observed: the
// DNS name when the app has one, else the load balancer's name, else the
// instances' public addresses (the Elastic IP where there is one).
func EntryPoint(s *observe.State) (Target, error) {
	switch {
	case s.DNS != nil && s.DNS.Type != "" && s.DNS.Name != "":
		return nameTarget(s.DNS.Name, "DNS name "+s.DNS.Name), nil
	case s.LoadBalancer != nil && s.LoadBalancer.DNSName != "":
		return nameTarget(s.LoadBalancer.DNSName, "load balancer "+s.LoadBalancer.DNSName), nil
	}
	addrs := PublicAddresses(s)
	if len(addrs) == 0 {
		return Target{}, ErrNoEntryPoint
	}
	u, _ := url.Parse("http://" + addrs[0].String() + DefaultPath)
	words := make([]string, len(addrs))
	for i, a := range addrs {
		words[i] = a.String()
	}
	return Target{URL: u, Addresses: addrs, What: "instance address(es) " + strings.Join(words, ", ")}, nil
}

func nameTarget(name, what string) Target {
	name = strings.TrimSuffix(name, ".")
	u, _ := url.Parse("http://" + name + DefaultPath)
	return Target{URL: u, Name: name, What: what}
}

// ParseTarget reads --probe-url: an http URL whose host is a name (resolved
// through the probe's resolver) or an IPv4 address.
func ParseTarget(raw string) (Target, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return Target{}, fmt.Errorf("--probe-url %q is not an http:// URL with a host", raw)
	}
	if u.Path == "" {
		u.Path = "/"
	}
	host := u.Hostname()
	if a, err := netip.ParseAddr(host); err == nil {
		return Target{URL: u, Addresses: []netip.Addr{a}, What: raw}, nil
	}
	return Target{URL: u, Name: host, What: raw}, nil
}

// PublicAddresses are the live instances' public addresses, Elastic IP
// first where one is associated, sorted.
func PublicAddresses(s *observe.State) []netip.Addr {
	var out []netip.Addr
	for _, i := range s.LiveInstances() {
		ip := i.EIP
		if ip == "" {
			ip = i.PublicIP
		}
		if a, err := netip.ParseAddr(ip); err == nil {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b netip.Addr) int { return a.Compare(b) })
	return slices.Compact(out)
}
