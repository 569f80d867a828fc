package ladder

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"

	"github.com/whatsthetime/wtt/pkg/cmdutil"
	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/plan"
)

// cutoverTTL is the TTL a record gets before it moves to the load balancer,
// and the TTL of a CNAME to it: short, so a later change reaches clients
// within a minute.
const cutoverTTL = 60

var albRecordCalls = []string{"route53:ListResourceRecordSets", "route53:ChangeResourceRecordSets", "route53:GetChange"}

// publication is where the app is published: the DNS name and how the
// record points at the load balancer. Zone IDs are not part of it: a jump
// plans this rung before the zone exists, so steps look the zone up when
// they run.
type publication struct {
	name  string // empty: the app stays on the load balancer's own name
	cname bool   // CNAME instead of an A alias
}

func (p publication) recordType() string {
	if p.cname {
		return "CNAME"
	}
	return "A"
}

func (p publication) describe() string {
	if p.cname {
		return fmt.Sprintf("CNAME (TTL %d s)", cutoverTTL)
	}
	return "alias A record"
}

// publishTarget decides which name the rung points at the load balancer:
// the one the app is published under, or --dns-name when it is not
// published yet. It refuses a CNAME at a zone apex, which DNS forbids.
func publishTarget(s *observe.State, o Options) (publication, error) {
	pub := publication{name: normalizeName(o.DNSName), cname: o.RecordType == "cname"}
	if d := s.DNS; d != nil && d.Name != "" {
		have := normalizeName(d.Name)
		if pub.name != "" && pub.name != have {
			return publication{}, cmdutil.Usagef("drop --dns-name to keep "+have+", or run `wtt down` and start again to publish another name",
				"the app is published as %s; --dns-name %s would leave that record pointing at instances that are about to go", have, pub.name)
		}
		pub.name = have
	}
	if pub.name == "" || !pub.cname {
		return pub, nil
	}
	if isZoneApex(s, pub.name) {
		return publication{}, cmdutil.Usagef("use --record-type=alias (an alias A record works at the apex), or publish a name below the zone such as api."+pub.name,
			"%s is the apex of its hosted zone, where DNS allows no CNAME", pub.name)
	}
	return pub, nil
}

// apex reports whether name is its zone's apex. When the zone is not known
// yet, a name of two labels is one: wtt would create its zone with that
// very name (see zoneFor). The step checks again against the real zone.
func isZoneApex(s *observe.State, name string) bool {
	if d := s.DNS; d != nil && d.ZoneName != "" && normalizeName(d.Name) == name {
		return normalizeName(d.ZoneName) == name
	}
	return strings.Count(name, ".") < 2
}

// albRecordReady reports whether the observed record already points at the
// load balancer the way pub asks.
func albRecordReady(s *observe.State, pub publication) bool {
	d, lb := s.DNS, s.LoadBalancer
	if d == nil || lb == nil || lb.DNSName == "" || normalizeName(d.Name) != pub.name {
		return false
	}
	if pub.cname {
		return d.Type == "CNAME" && len(d.Values) == 1 && strings.EqualFold(strings.TrimSuffix(d.Values[0], "."), lb.DNSName)
	}
	return d.Type == "A" && strings.EqualFold(d.AliasTarget, lb.DNSName)
}

// lowerTTLStep shortens a long-lived A record before the switch, so that
// resolvers asking from now on hold the old addresses for at most a
// minute. Resolvers that asked earlier still hold them for the old TTL:
// the step records it on the instances (observe.TagDNSDrain), and the
// drain after the switch waits it out.
func lowerTTLStep(s *observe.State, pub publication) *plan.Step {
	d := s.DNS
	if d == nil || d.Type != "A" || d.AliasTarget != "" || len(d.Values) == 0 || d.TTL <= cutoverTTL || albRecordReady(s, pub) {
		return nil
	}
	old := time.Duration(d.TTL) * time.Second
	return &plan.Step{
		Action: plan.Update, Resource: fmt.Sprintf("DNS record %s: TTL %d s -> %d s", pub.name, d.TTL, cutoverTTL),
		Detail: fmt.Sprintf("same addresses, shorter TTL, ahead of the switch to the load balancer; the old TTL (%s) is recorded on the public instances (tag %s), which keep serving that long after the switch",
			old, observe.TagDNSDrain),
		Calls: albUnionCalls(albRecordCalls, drainCalls),
		Do: func(ctx context.Context, x *plan.Exec) error {
			if err := env(x).tagDrain(ctx, old, true); err != nil {
				return err
			}
			return env(x).lowerRecordTTL(ctx, pub)
		},
	}
}

func cutoverStep(s *observe.State, pub publication, dr drain) *plan.Step {
	action, detail := plan.Update, "one change batch; "
	if s.DNS == nil || s.DNS.Type == "" {
		action = plan.Create
	}
	if s.DNS == nil {
		detail = "finds the hosted zone holding the name (or creates one for its parent domain), remembers it on the app's VPC; "
	}
	if s.DNS != nil && s.DNS.Type != "" && s.DNS.Type != pub.recordType() {
		detail += "the " + s.DNS.Type + " record is deleted and the " + pub.recordType() + " record created in the same batch, so the name never disappears"
	} else {
		detail += "UPSERT, so the name answers throughout"
	}
	return &plan.Step{
		Action: action, Resource: fmt.Sprintf("DNS record %s -> load balancer (%s)", pub.name, pub.describe()),
		Detail: detail,
		Calls:  albUnionCalls(zoneCalls, albRecordCalls, drainCalls),
		Do: func(ctx context.Context, x *plan.Exec) error {
			e := env(x)
			// Record the drain on the instances before the switch (the old
			// TTL is gone from DNS after it) and the moment they may go
			// once every name server serves it.
			drains := dr.wait > 0 && listsAddresses(e.State.DNS)
			if drains {
				if err := e.tagDrain(ctx, dr.wait, false); err != nil {
					return err
				}
			}
			if err := e.pointRecordAtALB(ctx, pub); err != nil {
				return err
			}
			if drains {
				return e.tagRetireAfter(ctx, dr.wait)
			}
			return nil
		},
	}
}

// lowerRecordTTL rewrites the record with its own addresses and the
// cutover TTL, if it still has a longer one. The record is as observed
// just before the step: only a write changes it, and the observer reads it
// again after every one.
func (e *Env) lowerRecordTTL(ctx context.Context, pub publication) error {
	d := e.State.DNS
	if d == nil || d.ZoneID == "" || normalizeName(d.Name) != pub.name {
		return nil // nothing published yet: nothing cached anywhere
	}
	if !listsAddresses(d) || d.TTL <= cutoverTTL {
		return nil
	}
	lowered := &r53types.ResourceRecordSet{Name: aws.String(pub.name), Type: r53types.RRTypeA, TTL: aws.Int64(cutoverTTL)}
	for _, v := range d.Values {
		lowered.ResourceRecords = append(lowered.ResourceRecords, r53types.ResourceRecord{Value: aws.String(v)})
	}
	if err := e.albChangeRecords(ctx, d.ZoneID, pub.name, "shorter TTL ahead of the switch to the load balancer",
		r53types.Change{Action: r53types.ChangeActionUpsert, ResourceRecordSet: lowered}); err != nil {
		return err
	}
	e.tookRecord(d.ZoneID, pub.name, func(d *observe.DNS) { d.TTL = cutoverTTL })
	return nil
}

// pointRecordAtALB points the name at the load balancer. A record that
// changes type (A to CNAME or back) is deleted and created in one batch,
// which Route 53 applies atomically; an A record with addresses becomes an
// alias by UPSERT.
func (e *Env) pointRecordAtALB(ctx context.Context, pub publication) error {
	lb := e.State.LoadBalancer
	if lb == nil || lb.DNSName == "" {
		return fmt.Errorf("load balancer %s does not exist yet; run the same command again to create it first", e.N.ALB())
	}
	zoneID, zoneName, err := e.zoneOf(ctx, pub.name)
	if err != nil {
		return err
	}
	if pub.cname && normalizeName(zoneName) == pub.name {
		return fmt.Errorf("%s is the apex of hosted zone %s, where DNS allows no CNAME; run again with --record-type=alias", pub.name, zoneName)
	}
	if err := e.RememberDNS(ctx, pub.name, zoneID); err != nil {
		return err
	}
	want := albRecord(pub, lb)
	changes := []r53types.Change{{Action: r53types.ChangeActionUpsert, ResourceRecordSet: want}}
	if d := e.State.DNS; d != nil && shortZoneID(d.ZoneID) == shortZoneID(zoneID) && normalizeName(d.Name) == pub.name {
		// The record as observed just before the step: an UPSERT needs
		// no more; a change of type deletes the old one, which must be
		// named exactly as it is.
		if albRecordReady(e.State, pub) {
			return nil
		}
		if d.Type != "" && d.Type != string(want.Type) {
			if changes, err = e.replaceRecord(ctx, zoneID, pub.name, want); err != nil || changes == nil {
				return err
			}
		}
	} else if !e.knownNoRecord(zoneID, pub.name) {
		if changes, err = e.replaceRecord(ctx, zoneID, pub.name, want); err != nil || changes == nil {
			return err
		}
	}
	if err := e.albChangeRecords(ctx, zoneID, pub.name, "point at load balancer "+lb.Name, changes...); err != nil {
		return err
	}
	e.tookRecord(zoneID, pub.name, func(d *observe.DNS) {
		d.Type, d.TTL, d.Values, d.AliasTarget = "A", 0, nil, strings.TrimSuffix(lb.DNSName, ".")
		if pub.cname {
			d.Type, d.TTL, d.Values, d.AliasTarget = "CNAME", cutoverTTL, []string{lb.DNSName}, ""
		}
	})
	return nil
}

// replaceRecord reads the name's record and returns the changes that make
// it want: none when it is already, an UPSERT when there is none or it has
// want's type, else the old record's deletion and want's creation in one
// batch.
func (e *Env) replaceRecord(ctx context.Context, zoneID, name string, want *r53types.ResourceRecordSet) ([]r53types.Change, error) {
	have, err := observe.FindRecord(ctx, e.C.Route53, zoneID, name)
	if err != nil {
		return nil, err
	}
	if albRecordMatches(have, want) {
		return nil, nil
	}
	if have != nil && have.Type != want.Type {
		return []r53types.Change{
			{Action: r53types.ChangeActionDelete, ResourceRecordSet: have},
			{Action: r53types.ChangeActionCreate, ResourceRecordSet: want},
		}, nil
	}
	return []r53types.Change{{Action: r53types.ChangeActionUpsert, ResourceRecordSet: want}}, nil
}

// zoneOf is the zone the app's record lives in: the remembered one, or the
// one EnsureZone finds or creates.
func (e *Env) zoneOf(ctx context.Context, name string) (id, zoneName string, err error) {
	if d := e.State.DNS; d != nil && d.ZoneID != "" && normalizeName(d.Name) == name {
		return d.ZoneID, d.ZoneName, nil
	}
	id, zoneName, _, err = e.EnsureZone(ctx, name)
	return id, zoneName, err
}

func albRecord(pub publication, lb *observe.LoadBalancer) *r53types.ResourceRecordSet {
	if pub.cname {
		return &r53types.ResourceRecordSet{
			Name: aws.String(pub.name), Type: r53types.RRTypeCname, TTL: aws.Int64(cutoverTTL),
			ResourceRecords: []r53types.ResourceRecord{{Value: aws.String(lb.DNSName)}},
		}
	}
	return &r53types.ResourceRecordSet{
		Name: aws.String(pub.name), Type: r53types.RRTypeA,
		AliasTarget: &r53types.AliasTarget{
			DNSName: aws.String(lb.DNSName), HostedZoneId: aws.String(lb.CanonicalZoneID),
			// Route 53 then answers only while the load balancer has
			// healthy targets in some AZ.
			EvaluateTargetHealth: true,
		},
	}
}

func albRecordMatches(have, want *r53types.ResourceRecordSet) bool {
	if have == nil || have.Type != want.Type {
		return false
	}
	if want.AliasTarget != nil {
		return have.AliasTarget != nil &&
			strings.EqualFold(strings.TrimSuffix(aws.ToString(have.AliasTarget.DNSName), "."), aws.ToString(want.AliasTarget.DNSName))
	}
	return len(have.ResourceRecords) == 1 &&
		strings.EqualFold(strings.TrimSuffix(aws.ToString(have.ResourceRecords[0].Value), "."), aws.ToString(want.ResourceRecords[0].Value)) &&
		aws.ToInt64(have.TTL) == aws.ToInt64(want.TTL)
}

// albChangeRecords applies one change batch and waits until every Route 53
// name server serves it.
func (e *Env) albChangeRecords(ctx context.Context, zoneID, name, why string, changes ...r53types.Change) error {
	out, err := e.C.Route53.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String(zoneID),
		ChangeBatch:  &r53types.ChangeBatch{Comment: aws.String("wtt app " + e.App + ": " + why), Changes: changes},
	})
	e.wroteRecord(zoneID, name)
	if err != nil {
		return fmt.Errorf("changing DNS record %s (%s): %w", name, why, err)
	}
	if out.ChangeInfo == nil || out.ChangeInfo.Status == r53types.ChangeStatusInsync {
		return nil // served everywhere already
	}
	w := route53.NewResourceRecordSetsChangedWaiter(e.C.Route53, func(o *route53.ResourceRecordSetsChangedWaiterOptions) {
		o.MinDelay = e.pollInterval()
		o.MaxDelay = e.maxPollDelay(30 * time.Second)
	})
	start := time.Now()
	if err := w.Wait(ctx, &route53.GetChangeInput{Id: out.ChangeInfo.Id}, e.waitTimeout()); err != nil {
		return &WaitError{What: "DNS record " + name + " to reach every Route 53 name server", After: time.Since(start), Err: err,
			Next: "run the same command again; Route 53 keeps propagating the change meanwhile"}
	}
	return nil
}

// projectRecord is the record after the cutover. A zone wtt has not seen
// yet is assumed created by it, so the cost estimate errs high.
func projectRecord(s *observe.State, pub publication, lb *observe.LoadBalancer) *observe.DNS {
	d := &observe.DNS{ZoneID: unknown, ZoneName: zoneFor(pub.name), ZoneOwned: true}
	if s.DNS != nil {
		d.ZoneID, d.ZoneName, d.ZoneOwned = s.DNS.ZoneID, s.DNS.ZoneName, s.DNS.ZoneOwned
	}
	d.Name, d.Type = pub.name, pub.recordType()
	if pub.cname {
		d.TTL, d.Values = cutoverTTL, []string{lb.DNSName}
	} else {
		d.AliasTarget = lb.DNSName
	}
	return d
}
