package ladder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"

	"github.com/whatsthetime/wtt/pkg/cmdutil"
	"github.com/whatsthetime/wtt/pkg/names"
	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/plan"
	"github.com/whatsthetime/wtt/pkg/stage"
)

// zoneCalls are what EnsureZone and RememberDNS may call.
var zoneCalls = []string{
	"route53:ListHostedZones", "route53:ListHostedZonesByName", "route53:CreateHostedZone",
	"route53:ListTagsForResource", "route53:ChangeTagsForResource", "ec2:CreateTags",
}

// EnsureZone finds the public hosted zone that holds name (the longest
// zone-name suffix match, private zones skipped) or, when none does, creates
// one for the name's parent domain, tagged and commented for the app so
// `down` deletes it and nothing else. created is true only when this call
// created the zone. Running it again finds the same zone: a zone created by
// an interrupted run is recognised by its comment and gets its tags.
func (e *Env) EnsureZone(ctx context.Context, name string) (zoneID, zoneName string, created bool, err error) {
	name = normalizeName(name)
	zones, err := e.publicZones(ctx)
	if err != nil {
		return "", "", false, err
	}
	if z, ok := bestZone(zones, name, e.State.Network.Tags[observe.TagDNSZone]); ok {
		if err := e.adoptOwnZone(ctx, z); err != nil {
			return "", "", false, err
		}
		return z.id, z.name, false, nil
	}
	z, err := e.createZone(ctx, zoneFor(name))
	if err != nil {
		return "", "", false, err
	}
	return z.id, z.name, true, nil
}

// RememberDNS records on the app's VPC where the app is published, so
// discovery (and so `status`, later rungs and `down`) finds the record
// without any local state. It writes nothing when the tags already say so.
func (e *Env) RememberDNS(ctx context.Context, name, zoneID string) error {
	vpc := e.State.Network.VPCID
	if vpc == "" {
		return fmt.Errorf("the app has no VPC to remember DNS name %s on; run `wtt up` first", name)
	}
	name, zoneID = normalizeName(name), shortZoneID(zoneID)
	tags := e.State.Network.Tags
	if tags[observe.TagDNSName] == name && tags[observe.TagDNSZone] == zoneID {
		return nil
	}
	if _, err := e.C.EC2.CreateTags(ctx, &ec2.CreateTagsInput{
		Resources: []string{vpc},
		Tags: []ec2types.Tag{
			{Key: aws.String(observe.TagDNSName), Value: aws.String(name)},
			{Key: aws.String(observe.TagDNSZone), Value: aws.String(zoneID)},
		},
	}); err != nil {
		return fmt.Errorf("remembering DNS name %s on VPC %s: %w", name, vpc, err)
	}
	if e.State.Network.Tags == nil {
		e.State.Network.Tags = map[string]string{}
	}
	e.State.Network.Tags[observe.TagDNSName] = name
	e.State.Network.Tags[observe.TagDNSZone] = zoneID
	return nil
}

// zoneComment marks a zone as wtt's; the end-to-end leak check and
// adoptOwnZone both look for it.
func (e *Env) zoneComment() string { return observe.ZoneComment(e.App) }

type hostedZone struct {
	id, name, comment, callerRef string
}

func normalizeName(name string) string { return strings.TrimSuffix(strings.ToLower(name), ".") }

// shortZoneID drops the "/hostedzone/" prefix some Route 53 answers carry.
func shortZoneID(id string) string { return strings.TrimPrefix(id, "/hostedzone/") }

func zoneFrom(z r53types.HostedZone) hostedZone {
	h := hostedZone{id: shortZoneID(aws.ToString(z.Id)), name: normalizeName(aws.ToString(z.Name)), callerRef: aws.ToString(z.CallerReference)}
	if z.Config != nil {
		h.comment = aws.ToString(z.Config.Comment)
	}
	return h
}

// publicZones lists the account's public hosted zones, once per command:
// a zone is not the app's, but the list is what every later choice of
// zone in the same command goes by (PreviewZone's, then the step's), and
// a zone this command creates is added to it.
func (e *Env) publicZones(ctx context.Context) ([]hostedZone, error) {
	if e.zones != nil {
		return e.zones, nil
	}
	out := []hostedZone{}
	p := route53.NewListHostedZonesPaginator(e.C.Route53, &route53.ListHostedZonesInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing hosted zones: %w", err)
		}
		for _, z := range page.HostedZones {
			// A private zone answers only inside its VPCs: clients on the
			// internet would never see the record.
			if z.Config != nil && z.Config.PrivateZone {
				continue
			}
			out = append(out, zoneFrom(z))
		}
	}
	e.zones = out
	return out, nil
}

// inZone reports whether name lies in zone (or is its apex).
func inZone(name, zone string) bool {
	return name == zone || strings.HasSuffix(name, "."+zone)
}

// bestZone picks the zone holding name with the longest name, as DNS
// delegation does. AWS allows several zones of one name; the one the app
// remembered wins, so a re-run never switches zones.
func bestZone(zones []hostedZone, name, remembered string) (hostedZone, bool) {
	var best hostedZone
	found := false
	for _, z := range zones {
		if !inZone(name, z.name) {
			continue
		}
		switch {
		case !found, len(z.name) > len(best.name):
			best, found = z, true
		case len(z.name) == len(best.name) && z.id == shortZoneID(remembered):
			best = z
		}
	}
	return best, found
}

// zoneFor is the zone wtt creates for name: its parent domain, so the zone
// can hold other names too, unless the parent is a top-level domain (which
// nobody can delegate to Route 53); then the name itself is the apex.
func zoneFor(name string) string {
	labels := strings.Split(name, ".")
	if len(labels) >= 3 {
		return strings.Join(labels[1:], ".")
	}
	return name
}

// callerReference makes zone creation retry-safe on AWS, which refuses a
// second zone with the same reference. The VPC ID makes it unique to this
// incarnation of the app: after `down` and `up` a new zone may be created.
func (e *Env) callerReference(zone string) string {
	ref := "wtt-" + e.App + "-" + zone + "-" + e.State.Network.VPCID
	if len(ref) > 128 {
		sum := sha256.Sum256([]byte(zone + "/" + e.State.Network.VPCID))
		ref = "wtt-" + e.App + "-" + hex.EncodeToString(sum[:16])
	}
	return ref
}

func (e *Env) createZone(ctx context.Context, zone string) (hostedZone, error) {
	ref := e.callerReference(zone)
	// AWS refuses a repeated caller reference; the emulator makes a second
	// zone. So a create whose answer was lost is not retried blindly: the
	// zone with this caller reference is looked up first.
	created, err := createOrAdopt(ctx, "creating hosted zone "+zone, func(ctx context.Context) (hostedZone, error) {
		out, err := e.C.Route53.CreateHostedZone(ctx, &route53.CreateHostedZoneInput{
			Name:             aws.String(zone),
			CallerReference:  aws.String(ref),
			HostedZoneConfig: &r53types.HostedZoneConfig{Comment: aws.String(e.zoneComment()), PrivateZone: false},
		})
		if err != nil {
			return hostedZone{}, err
		}
		return zoneFrom(*out.HostedZone), nil
	}, func(ctx context.Context) (hostedZone, bool, error) {
		found, err := e.zoneByReference(ctx, zone, ref)
		if err != nil || found == nil {
			return hostedZone{}, false, err
		}
		return *found, true, nil
	})
	var z hostedZone
	switch {
	case err == nil:
		z = created
	case hasCode(err, "HostedZoneAlreadyExists"):
		// An earlier, interrupted run created it with this reference.
		found, ferr := e.zoneByReference(ctx, zone, ref)
		if ferr != nil {
			return hostedZone{}, ferr
		}
		if found == nil {
			return hostedZone{}, fmt.Errorf("creating hosted zone %s: AWS says a zone with caller reference %s existed, but it is gone; run the same command again after `wtt down`: %w", zone, ref, err)
		}
		z = *found
	default:
		return hostedZone{}, fmt.Errorf("creating hosted zone %s: %w", zone, err)
	}
	if err := e.tagZone(ctx, z.id); err != nil {
		return hostedZone{}, err
	}
	if e.zones != nil {
		e.zones = append(slices.Clone(e.zones), z)
	}
	// A zone made now holds no record but its SOA and NS.
	e.noRecord(z.id, "")
	return z, nil
}

func (e *Env) zoneByReference(ctx context.Context, zone, ref string) (*hostedZone, error) {
	out, err := e.C.Route53.ListHostedZonesByName(ctx, &route53.ListHostedZonesByNameInput{DNSName: aws.String(zone)})
	if err != nil {
		return nil, fmt.Errorf("looking up hosted zone %s: %w", zone, err)
	}
	for _, hz := range out.HostedZones {
		if z := zoneFrom(hz); z.name == zone && z.callerRef == ref {
			return &z, nil
		}
	}
	return nil, nil
}

// adoptOwnZone tags a zone that carries the app's comment but not its tags:
// a run killed between CreateHostedZone and tagging leaves one, and `down`
// deletes a zone only when its tags say wtt created it.
func (e *Env) adoptOwnZone(ctx context.Context, z hostedZone) error {
	if z.comment != e.zoneComment() {
		return nil
	}
	out, err := e.C.Route53.ListTagsForResource(ctx, &route53.ListTagsForResourceInput{
		ResourceId: aws.String(z.id), ResourceType: r53types.TagResourceTypeHostedzone,
	})
	if err != nil {
		return fmt.Errorf("reading tags of hosted zone %s: %w", z.name, err)
	}
	if out.ResourceTagSet != nil {
		for _, t := range out.ResourceTagSet.Tags {
			if aws.ToString(t.Key) == names.TagApp && aws.ToString(t.Value) == e.App {
				return nil
			}
		}
	}
	return e.tagZone(ctx, z.id)
}

func (e *Env) tagZone(ctx context.Context, id string) error {
	if _, err := e.C.Route53.ChangeTagsForResource(ctx, &route53.ChangeTagsForResourceInput{
		ResourceId: aws.String(id), ResourceType: r53types.TagResourceTypeHostedzone,
		AddTags: []r53types.Tag{
			{Key: aws.String(names.TagApp), Value: aws.String(e.App)},
			{Key: aws.String(names.TagManagedBy), Value: aws.String(names.ManagedBy)},
		},
	}); err != nil {
		return fmt.Errorf("tagging hosted zone %s: %w", id, err)
	}
	return nil
}

// upsertA points name at addrs. Always UPSERT: a CREATE fails on AWS when
// the record exists, and the emulator would keep a duplicate.
func (e *Env) upsertA(ctx context.Context, zoneID, name string, ttl int64, addrs []string) error {
	var rrs []r53types.ResourceRecord
	for _, a := range addrs {
		rrs = append(rrs, r53types.ResourceRecord{Value: aws.String(a)})
	}
	out, err := e.C.Route53.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String(zoneID),
		ChangeBatch: &r53types.ChangeBatch{
			Comment: aws.String("wtt app " + e.App + ": the instances' addresses"),
			Changes: []r53types.Change{{Action: r53types.ChangeActionUpsert, ResourceRecordSet: &r53types.ResourceRecordSet{
				Name: aws.String(name), Type: r53types.RRTypeA, TTL: aws.Int64(ttl), ResourceRecords: rrs,
			}}},
		},
	})
	e.wroteRecord(zoneID, name)
	if err != nil {
		return fmt.Errorf("writing A record %s: %w", name, err)
	}
	if err := e.waitChange(ctx, out.ChangeInfo, "record "+name); err != nil {
		return err
	}
	// The step's last word on the record, served everywhere: what
	// discovery would read now.
	values := slices.Sorted(slices.Values(addrs))
	e.tookRecord(zoneID, name, func(d *observe.DNS) {
		d.Type, d.TTL, d.Values, d.AliasTarget = "A", ttl, values, ""
	})
	return nil
}

// tookRecord hands the observer the app's record as a step just wrote it
// (and waited for): set changes a copy of the observed one. Nothing
// happens unless the observed DNS is this very record.
func (e *Env) tookRecord(zoneID, name string, set func(d *observe.DNS)) {
	d := e.State.DNS
	if d == nil || shortZoneID(d.ZoneID) != shortZoneID(zoneID) || normalizeName(d.Name) != normalizeName(name) {
		return
	}
	e.took(observe.KindDNS, func(s *observe.State) {
		if s.DNS == nil {
			return
		}
		c := *s.DNS
		set(&c)
		s.DNS = &c
	})
}

// waitChange waits until Route 53's name servers all serve a change; a
// change whose answer says so already needs no poll.
func (e *Env) waitChange(ctx context.Context, change *r53types.ChangeInfo, what string) error {
	if change == nil {
		return nil
	}
	if change.Status == r53types.ChangeStatusInsync {
		return nil
	}
	id := aws.ToString(change.Id)
	w := route53.NewResourceRecordSetsChangedWaiter(e.C.Route53, func(o *route53.ResourceRecordSetsChangedWaiterOptions) {
		o.MinDelay = e.pollInterval()
		o.MaxDelay = e.maxPollDelay(30 * time.Second)
	})
	start := time.Now()
	if err := w.Wait(ctx, &route53.GetChangeInput{Id: aws.String(id)}, e.waitTimeout()); err != nil {
		return &WaitError{What: what + " to reach every Route 53 name server", After: time.Since(start), Err: err,
			Next: "run the same command again; Route 53 keeps propagating the change meanwhile"}
	}
	return nil
}

// DefaultTTL is the record's TTL when none is given: short, because a
// client keeps a removed instance's address this long.
const DefaultTTL = 60

// longTTL is where the plan starts warning about stale addresses.
const longTTL = 300

func (o Options) dnsTTL() int64 {
	if o.TTL > 0 {
		return o.TTL
	}
	return DefaultTTL
}

// dnsNameFor is the name the rung publishes: the one given, else the one
// the app remembers. A second, different name is refused rather than
// silently moving the app.
func dnsNameFor(s *observe.State, o Options) (string, error) {
	name := normalizeName(o.DNSName)
	remembered := s.Network.Tags[observe.TagDNSName]
	if name == "" {
		name = remembered
	}
	if name == "" {
		return "", cmdutil.Usagef("pass --dns-name api.example.com (or set dns.name in the config file)", "the dns rung needs a DNS name")
	}
	if remembered != "" && remembered != name {
		return "", cmdutil.Usagef("pass --dns-name "+remembered+", or run `wtt down` and start again to publish another name",
			"the app is already published as %s, not %s", remembered, name)
	}
	return name, nil
}

// dnsRun carries what one run of the rung learns as it goes: the Elastic
// IPs it released, which must never be published again. It is filled at
// run time, never at planning time; a re-run starts empty and loses
// nothing, because by then AWS no longer shows the released addresses.
type dnsRun struct {
	released map[string]bool
}

// planDNS publishes the fleet under one A record and drops the Elastic
// IPs: record first (today's addresses, so clients can move to the name),
// then release, then the record again with the addresses the instances
// answer on afterwards. Only between the release and that last step does
// the record list addresses that no longer answer.
func planDNS(s *observe.State, o Options) ([]*plan.Step, []string, error) {
	name, err := dnsNameFor(s, o)
	if err != nil {
		return nil, nil, err
	}
	live := s.LiveInstances()
	if len(live) == 0 {
		return nil, nil, cmdutil.Usagef("run `wtt up` first", "the app has no running instance to publish under %s", name)
	}
	if s.DNS != nil && s.DNS.ZoneName != "" && !inZone(name, s.DNS.ZoneName) {
		return nil, nil, fmt.Errorf("hosted zone %s does not hold %s; run `wtt down` and start again", s.DNS.ZoneName, name)
	}
	ttl := o.dnsTTL()
	rung := string(stage.DNS)
	run := &dnsRun{released: map[string]bool{}}
	var steps []*plan.Step
	warns := []string{fmt.Sprintf("dns: clients and resolvers may keep a removed address for up to the TTL (%ds) after the record changes", ttl)}
	if ttl > longTTL {
		warns = append(warns, fmt.Sprintf("dns: TTL %ds is long: when an instance goes away, clients may keep its address for up to %s; 60 is a common choice",
			ttl, time.Duration(ttl)*time.Second))
	}

	if !dnsRemembered(s, name) {
		steps = append(steps, zoneStep(s, name, rung))
	}
	today := fleetAddresses(live)
	if !recordLists(s.DNS, today, ttl) {
		steps = append(steps, &plan.Step{
			Rung: rung, Action: plan.Update,
			Resource: fmt.Sprintf("A record %s -> %s (TTL %ds)", name, addressList(today, len(s.EIPs) > 0), ttl),
			Detail:   "UPSERT, so clients can move from the addresses to the name before anything changes",
			Calls:    []string{"ec2:DescribeInstances", "route53:ChangeResourceRecordSets", "route53:GetChange"},
			Do: func(ctx context.Context, x *plan.Exec) error {
				return env(x).publishAddresses(ctx, x, name, ttl, nil)
			},
		})
	}
	if len(s.EIPs) > 0 {
		eips := make([]string, 0, len(s.EIPs))
		for _, a := range s.EIPs {
			eips = append(eips, a.PublicIP)
		}
		steps = append(steps, &plan.Step{
			Rung: rung, Action: plan.Delete,
			Resource: fmt.Sprintf("%d Elastic IP(s) %s (disassociate, release)", len(s.EIPs), strings.Join(eips, ", ")),
			Detail:   "AWS then gives each instance a new auto-assigned public IPv4 (they were launched with one)",
			Calls:    []string{"ec2:DisassociateAddress", "ec2:ReleaseAddress"},
			Downtime: time.Duration(ttl) * time.Second,
			DowntimeNote: fmt.Sprintf("the Elastic IPs stop answering at once; clients that resolved %s before the next step keep them for up to the TTL (%ds), "+
				"plus the seconds until AWS assigns the new addresses; anyone using an Elastic IP directly loses it for good", name, ttl),
			// resolvers hold the Elastic IPs for the TTL; anyone given one
			// directly holds it until told the new address
			StaleFor: plan.StaleUntilTold,
			Warnings: []string{"released Elastic IPs cannot be got back: make sure nothing but " + name + " is used to reach the app"},
			Do: func(ctx context.Context, x *plan.Exec) error {
				return env(x).releaseEIPs(ctx, x, run)
			},
		})
		steps = append(steps, &plan.Step{
			Rung: rung, Action: plan.Update,
			Resource: fmt.Sprintf("A record %s -> the instances' new public IPs (TTL %ds)", name, ttl),
			Detail:   "waits until every instance has its new address, then UPSERTs the record with exactly those",
			Calls:    []string{"ec2:DescribeInstances", "route53:ChangeResourceRecordSets", "route53:GetChange"},
			Do: func(ctx context.Context, x *plan.Exec) error {
				return env(x).publishAddresses(ctx, x, name, ttl, run.released)
			},
		})
	}
	return steps, warns, nil
}

// dnsRemembered reports whether the VPC already names the zone of name and
// that zone still exists.
func dnsRemembered(s *observe.State, name string) bool {
	return s.DNS != nil && s.Network.Tags[observe.TagDNSName] == name && s.Network.Tags[observe.TagDNSZone] != ""
}

// zoneStep finds or creates the hosted zone and remembers it on the VPC.
// Planning cannot know whether a zone exists (it makes no AWS call) unless
// the state was previewed (PreviewZone); then it says which.
func zoneStep(s *observe.State, name, rung string) *plan.Step {
	st := &plan.Step{
		Rung: rung, Action: plan.Create, Calls: append(append([]string{}, zoneCalls...), "route53:ListResourceRecordSets"),
		Do: func(ctx context.Context, x *plan.Exec) error { return env(x).claimName(ctx, x, name) },
	}
	zone := zoneFor(name)
	delegate := fmt.Sprintf("a new zone answers on the internet only once the registrar of %s delegates to its name servers (NS records)", zone)
	switch {
	case s.DNS == nil:
		st.Resource = fmt.Sprintf("hosted zone %s for %s ($0.50/month), unless a public zone already holds the name", zone, name)
		st.Detail = "uses the longest public hosted zone holding the name; creates one only when none does; remembers the zone on the VPC's tags"
		st.Warnings = []string{delegate}
	case s.DNS.ZoneOwned:
		st.Action = plan.Update
		st.Resource = fmt.Sprintf("use hosted zone %s (created by wtt) for %s", s.DNS.ZoneName, name)
		st.Detail = "remembers the zone on the VPC's tags"
	default:
		st.Action = plan.Update
		st.Resource = fmt.Sprintf("use existing hosted zone %s for %s (wtt adds only its own record; `down` leaves the zone)", s.DNS.ZoneName, name)
		st.Detail = "remembers the zone on the VPC's tags"
	}
	return st
}

// claimName finds or creates the zone and remembers it, refusing a name
// that already has a record wtt did not write: UPSERT would overwrite it.
// It then knows the VPC's tags and, when it found no record, the app's
// DNS as discovery would read it: the observer takes both.
func (e *Env) claimName(ctx context.Context, x *plan.Exec, name string) error {
	id, zone, created, err := e.EnsureZone(ctx, name)
	if err != nil {
		return err
	}
	if created {
		x.Logf("created hosted zone %s (%s)", zone, id)
	} else {
		x.Logf("using hosted zone %s (%s)", zone, id)
	}
	if err := e.refuseForeignRecord(ctx, id, zone, name); err != nil {
		return err
	}
	if err := e.RememberDNS(ctx, name, id); err != nil {
		return err
	}
	name, id = normalizeName(name), shortZoneID(id)
	if !e.knownNoRecord(id, name) {
		return nil
	}
	owned := created
	for _, z := range e.zones {
		if z.id == id && z.comment == e.zoneComment() {
			owned = true
		}
	}
	tags := maps.Clone(e.State.Network.Tags)
	d := &observe.DNS{ZoneID: id, ZoneName: normalizeName(zone), ZoneOwned: owned, Name: name}
	e.took(observe.KindVPCTags|observe.KindDNS|observe.KindZone, func(s *observe.State) {
		s.Network.Tags, s.DNS = tags, d
	})
	return nil
}

func (e *Env) refuseForeignRecord(ctx context.Context, zoneID, zone, name string) error {
	if e.State.Network.Tags[observe.TagDNSName] == name || e.knownNoRecord(zoneID, name) {
		return nil
	}
	rr, err := observe.FindRecord(ctx, e.C.Route53, zoneID, name)
	if err != nil {
		return err
	}
	if rr != nil {
		return cmdutil.Usagef("delete that record yourself, or choose another --dns-name",
			"hosted zone %s already has a %s record for %s that wtt did not write", zone, rr.Type, name)
	}
	e.noRecord(zoneID, name)
	return nil
}

// noRecord remembers, for the rest of the command, that the zone has no
// A or CNAME record of name (for a zone made now: no record at all, which
// an empty name stands for), until the command writes one there
// (wroteRecord); knownNoRecord asks.
func (e *Env) noRecord(zoneID, name string) {
	if e.empty == nil {
		e.empty = map[string]bool{}
	}
	e.empty[shortZoneID(zoneID)+" "+normalizeName(name)] = true
}

func (e *Env) knownNoRecord(zoneID, name string) bool {
	z := shortZoneID(zoneID)
	if e.empty[z+" "] {
		return true
	}
	return e.empty[z+" "+normalizeName(name)]
}

func (e *Env) wroteRecord(zoneID, name string) {
	z := shortZoneID(zoneID)
	delete(e.empty, z+" ")
	delete(e.empty, z+" "+normalizeName(name))
}

// PreviewZoneCalls are what PreviewZone may call (read-only), for the IAM
// policy of the command whose PreCheck calls it.
var PreviewZoneCalls = []string{"route53:ListHostedZones", "route53:ListResourceRecordSets"}

// PreviewZone fills in the zone a later dns step would use, with read-only
// calls, so the plan can say whether it creates a zone or uses one; and it
// refuses, before anything changes, a name someone else already uses, or a
// second name for an app already published (which the planner never sees
// when the app is at stage dns already). The CLI calls it before planning
// (its PreCheck) when migrating to dns; planning works without it.
func (e *Env) PreviewZone(ctx context.Context, name string) error {
	name = normalizeName(name)
	if _, err := dnsNameFor(e.State, Options{DNSName: name}); err != nil || name == "" {
		return err
	}
	if dnsRemembered(e.State, name) {
		return nil
	}
	zones, err := e.publicZones(ctx)
	if err != nil {
		return err
	}
	z, ok := bestZone(zones, name, "")
	if !ok {
		return nil
	}
	d := &observe.DNS{ZoneID: z.id, ZoneName: z.name, Name: name, ZoneOwned: z.comment == e.zoneComment()}
	if err := e.refuseForeignRecord(ctx, z.id, z.name, name); err != nil {
		return err
	}
	e.State.DNS = d
	return nil
}

func fleetAddresses(live []observe.Instance) []string {
	var out []string
	for _, i := range live {
		if i.PublicIP != "" {
			out = append(out, i.PublicIP)
		}
	}
	slices.Sort(out)
	return out
}

func addressList(addrs []string, eips bool) string {
	what := "public IPs"
	if eips {
		what = "Elastic IPs"
	}
	return fmt.Sprintf("%s %s", what, strings.Join(addrs, ", "))
}

// recordLists reports whether the record is a plain A record listing
// exactly addrs with the TTL.
func recordLists(d *observe.DNS, addrs []string, ttl int64) bool {
	if d == nil || d.Type != "A" || d.AliasTarget != "" || d.TTL != ttl {
		return false
	}
	return slices.Equal(d.Values, addrs)
}

// publishAddresses UPSERTs the record with the addresses the live instances
// answer on now, never one of avoid (Elastic IPs just released).
func (e *Env) publishAddresses(ctx context.Context, x *plan.Exec, name string, ttl int64, avoid map[string]bool) error {
	d := e.State.DNS
	if d == nil || d.ZoneID == "" {
		return fmt.Errorf("the app does not remember a hosted zone for %s; run the same command again (its first step finds the zone)", name)
	}
	addrs, err := e.answeringAddresses(ctx, avoid)
	if err != nil {
		return err
	}
	if recordLists(d, addrs, ttl) {
		return nil
	}
	x.Logf("%s -> %s", name, strings.Join(addrs, ", "))
	return e.upsertA(ctx, d.ZoneID, name, ttl, addrs)
}

// answeringAddresses is each live instance's public address: its Elastic
// IP while it has one (discovery reads that from DescribeAddresses, which
// the emulator gets right after stop/start), else the auto-assigned one as
// observed before the step, or, when that is none yet or a released
// Elastic IP, waited for: AWS assigns it a moment after an Elastic IP goes.
func (e *Env) answeringAddresses(ctx context.Context, avoid map[string]bool) ([]string, error) {
	live := e.State.LiveInstances()
	if len(live) == 0 {
		return nil, fmt.Errorf("the app has no running instance to publish; run `wtt up`")
	}
	var addrs, waitFor []string
	for _, i := range live {
		switch {
		case i.EIP != "" && !avoid[i.EIP]:
			addrs = append(addrs, i.EIP)
		case i.EIP == "" && i.PublicIP != "" && !avoid[i.PublicIP]:
			addrs = append(addrs, i.PublicIP)
		default:
			waitFor = append(waitFor, i.ID)
		}
	}
	if len(waitFor) > 0 {
		fresh, err := e.waitPublicIPs(ctx, waitFor, avoid)
		if err != nil {
			return nil, err
		}
		addrs = append(addrs, fresh...)
	}
	slices.Sort(addrs)
	return addrs, nil
}

// waitPublicIPs polls the instances until each has a public address that
// is not one of avoid, and hands the observer the instances as the last
// poll described them (the step's only calls that change instances came
// before: the release of their Elastic IPs).
func (e *Env) waitPublicIPs(ctx context.Context, ids []string, avoid map[string]bool) ([]string, error) {
	var addrs []string
	var last []ec2types.Instance
	err := e.poll(ctx, fmt.Sprintf("instance(s) %v to get a new public IPv4", ids), func(ctx context.Context) (bool, error) {
		out, err := e.C.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids})
		if err != nil {
			return false, fmt.Errorf("describing instances %v: %w", ids, err)
		}
		last = described(out)
		addrs = addrs[:0]
		for _, in := range last {
			ip := aws.ToString(in.PublicIpAddress)
			if ip == "" || avoid[ip] {
				return false, nil
			}
			addrs = append(addrs, ip)
		}
		return len(addrs) == len(ids), nil
	})
	if err == nil {
		e.tookInstances(last, 0)
	}
	return addrs, err
}

// releaseEIPs disassociates and releases every Elastic IP of the app,
// noting their addresses so the next step never publishes them. The app
// then has none; the instances' new addresses are read before the next
// step.
func (e *Env) releaseEIPs(ctx context.Context, x *plan.Exec, run *dnsRun) error {
	for _, a := range e.State.EIPs {
		run.released[a.PublicIP] = true
		x.Logf("releasing %s", a.PublicIP)
	}
	if err := e.deleteEIPs(ctx); err != nil {
		return err
	}
	e.took(observe.KindAddresses, func(s *observe.State) { s.EIPs = []observe.EIP{} })
	return nil
}

// projectDNS is the state after the rung: no Elastic IPs, each instance
// that had one on a new address, and the record listing them all.
func projectDNS(s *observe.State, o Options) *observe.State {
	p := clone(s)
	name, err := dnsNameFor(s, o)
	if err != nil {
		return p
	}
	for i := range p.Instances {
		if p.Instances[i].EIP != "" {
			p.Instances[i].EIP = ""
			p.Instances[i].PublicIP = unknown
		}
	}
	p.EIPs = []observe.EIP{}
	if p.DNS == nil || p.DNS.Name != name {
		p.DNS = &observe.DNS{ZoneID: unknown, ZoneName: zoneFor(name), ZoneOwned: true, Name: name}
	}
	p.DNS.Type, p.DNS.TTL, p.DNS.AliasTarget = "A", o.dnsTTL(), ""
	p.DNS.Values = fleetAddresses(p.LiveInstances())
	p.Network.Tags[observe.TagDNSName] = name
	p.Network.Tags[observe.TagDNSZone] = p.DNS.ZoneID
	return p
}
