package ladder

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"

	"github.com/whatsthetime/wtt/pkg/observe"
)

// scaleLaunchCalls are what scaleLaunch may call.
var scaleLaunchCalls = joinCalls(launchCalls, deliveryCalls)

// scaleLaunch launches instances like spec until `want` live standalone
// instances match counts, and waits until they all run. It counts by what
// exists (tags, type), so a run killed at any point and run again never
// launches twice; counts is a predicate rather than ensureInstances' role
// because a vertical roll must count the instances of the new type only,
// while the old ones, of the same role, still serve. Like
// ensureInstances, it comes first in its step, and hands the observer the
// instances as its wait last saw them.
func (e *Env) scaleLaunch(ctx context.Context, spec launchSpec, want int, counts func(observe.Instance) bool) ([]string, error) {
	var have, pending []string
	used := map[string]int{}
	for _, i := range e.State.Standalone() {
		if !counts(i) {
			continue
		}
		have = append(have, i.ID)
		used[i.SubnetID]++
		if i.State == "pending" {
			pending = append(pending, i.ID)
		}
	}
	if len(have) >= want {
		running, err := e.waitRunning(ctx, pending)
		e.tookInstances(running, 0)
		return have, err
	}
	info, err := e.archOf(ctx, spec.Type)
	if err != nil {
		return nil, err
	}
	if spec.Subnets, err = e.offeredSubnets(ctx, spec.Type, spec.Subnets); err != nil {
		return nil, err
	}
	script, err := e.ensureDelivery(ctx, info.Arch)
	if err != nil {
		return nil, err
	}
	ami, err := e.resolveAMI(ctx, info.Arch)
	if err != nil {
		return nil, err
	}
	base := launchFingerprint(e.State)
	launched := pending
	for n := len(have); n < want; n++ {
		sn := leastUsed(spec.Subnets, used)
		used[sn.ID]++
		id, err := e.runInstance(ctx, spec, sn, ami, script, base+n)
		if err != nil {
			return nil, err
		}
		progressf(ctx, "launched %s (%s) in %s", id, spec.Type, sn.AZ)
		launched = append(launched, id)
		have = append(have, id)
	}
	running, err := e.waitRunning(ctx, launched)
	e.tookInstances(running, 0)
	return have, err
}

// launchFingerprint keeps RunInstances' idempotency tokens apart between
// launches of different fleets. runInstance builds its token from the role,
// AZ, ordinal and a 10-minute window; scaling in and out again within ten
// minutes would otherwise repeat a token, and AWS answers a repeated token
// with the instance launched the first time (since terminated) instead of a
// new one. The SDK's own retries of one call keep the token, which is all
// idempotency needs: a re-run after a crash finds earlier launches by tag.
func launchFingerprint(s *observe.State) int {
	ids := instanceIDs(s.Standalone())
	slices.Sort(ids)
	h := fnv.New32a()
	h.Write([]byte(strings.Join(ids, ",")))
	return int(h.Sum32()%100000) * 1000
}

// offeredSubnets keeps the subnets whose AZ offers typ: not every type is
// offered in every AZ of a region.
func (e *Env) offeredSubnets(ctx context.Context, typ string, subnets []observe.Subnet) ([]observe.Subnet, error) {
	if len(subnets) == 0 {
		return nil, errNoSubnets
	}
	offered, err := offeredAZs(ctx, e.C, typ)
	if err != nil {
		return nil, err
	}
	var keep []observe.Subnet
	for _, sn := range subnets {
		if offered[sn.AZ] {
			keep = append(keep, sn)
		}
	}
	if len(keep) == 0 {
		return nil, fmt.Errorf("instance type %s is not offered in any AZ of the app's subnets; pick another type", typ)
	}
	return keep, nil
}

// liveByAge is the app's live standalone instances, oldest first (as
// discovery sorts them): scaling in removes from the end, newest first,
// because the oldest have proved themselves.
func liveByAge(s *observe.State) []observe.Instance { return s.Standalone() }

// newestBeyond returns the instances a scale-in to n removes.
func newestBeyond(s *observe.State, n int) []observe.Instance {
	live := liveByAge(s)
	if len(live) <= n {
		return nil
	}
	return live[n:]
}

// privateSubnetsFor are the private subnets in the load balancer's AZs:
// where instances behind it launch, so every one is in an AZ the load
// balancer sends traffic to.
func privateSubnetsFor(s *observe.State) []observe.Subnet {
	priv := s.Network.SubnetsWhere(false)
	if s.LoadBalancer == nil {
		return priv
	}
	var out []observe.Subnet
	for _, sn := range priv {
		if slices.Contains(s.LoadBalancer.AZs, sn.AZ) {
			out = append(out, sn)
		}
	}
	if len(out) == 0 {
		return priv
	}
	return out
}

// joinCalls merges Calls lists without repeats, in order.
func joinCalls(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		for _, c := range l {
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	return out
}
