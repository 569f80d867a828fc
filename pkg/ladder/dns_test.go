package ladder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/route53"

	"github.com/whatsthetime/wtt/pkg/awsclient"
	"github.com/whatsthetime/wtt/pkg/names"
	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/plan"
	"github.com/whatsthetime/wtt/pkg/stage"
)

const testName = "api.example.com"

func dnsOpts() Options { return Options{DNSName: testName, TTL: 60} }

// published is an app at stage dns: the record lists the instances' own
// public IPs, remembered on the VPC.
func published(t *testing.T, n int) *observe.State {
	t.Helper()
	s := publicFleet(t, n)
	s.Network.Tags[observe.TagDNSName] = testName
	s.Network.Tags[observe.TagDNSZone] = "Z1"
	s.DNS = &observe.DNS{ZoneID: "Z1", ZoneName: "example.com", ZoneOwned: true, Name: testName, Type: "A", TTL: 60,
		Values: fleetAddresses(s.LiveInstances())}
	if got := stage.Detect(s).Stage; got != stage.DNS {
		t.Fatalf("fixture is at %s, want dns; unmet: %v", got, stage.Detect(s).Unmet)
	}
	return s
}

func stepRungs(steps []*plan.Step) []string {
	var out []string
	for _, s := range steps {
		out = append(out, s.Rung+" "+string(s.Action)+" "+s.Resource)
	}
	return out
}

func TestPlanDNSFromEIP(t *testing.T) {
	s := withEIPs(publicFleet(t, 2))
	steps, warns, err := planDNS(s, dnsOpts())
	if err != nil {
		t.Fatal(err)
	}
	want := []plan.Action{plan.Create, plan.Update, plan.Delete, plan.Update}
	if len(steps) != len(want) {
		t.Fatalf("steps:\n%s\nwant zone, record, release, record", strings.Join(stepRungs(steps), "\n"))
	}
	for k, a := range want {
		if steps[k].Action != a || steps[k].Rung != "dns" {
			t.Errorf("step %d is %s (rung %s), want %s", k+1, steps[k].Action, steps[k].Rung, a)
		}
	}
	zone, first, release, again := steps[0], steps[1], steps[2], steps[3]
	if !strings.Contains(zone.Resource, "example.com") || !strings.Contains(zone.Resource, "$0.50/month") {
		t.Errorf("zone step %q should name the zone it creates and its price", zone.Resource)
	}
	hasAll(t, zone.Calls, "route53:ListHostedZones", "route53:CreateHostedZone", "route53:ChangeTagsForResource", "ec2:CreateTags")
	if !strings.Contains(first.Resource, "3.0.0.1, 3.0.0.2") {
		t.Errorf("first record step %q should list today's Elastic IPs", first.Resource)
	}
	for _, st := range []*plan.Step{first, again} {
		hasAll(t, st.Calls, "route53:ChangeResourceRecordSets", "route53:GetChange", "ec2:DescribeInstances")
	}
	hasAll(t, release.Calls, "ec2:DisassociateAddress", "ec2:ReleaseAddress")
	if release.Downtime != time.Minute || !strings.Contains(release.DowntimeNote, "TTL (60s)") {
		t.Errorf("release downtime %v %q: want the TTL, said out loud", release.Downtime, release.DowntimeNote)
	}
	if !someContains(warns, "up to the TTL (60s)") {
		t.Errorf("warnings %v should say clients keep a removed address for the TTL", warns)
	}
	if someContains(warns, "is long") {
		t.Errorf("warnings %v: TTL 60 is not long", warns)
	}
}

func TestProjectDNSReachesTheStage(t *testing.T) {
	s := withEIPs(publicFleet(t, 2))
	p := projectDNS(s, dnsOpts())
	if !stage.Reached(p, stage.DNS) {
		t.Fatalf("projection does not reach dns: %v", stage.Detect(p).Unmet)
	}
	if len(p.EIPs) != 0 || p.DNS.Name != testName || p.DNS.ZoneName != "example.com" || p.DNS.TTL != 60 {
		t.Errorf("projected EIPs %v, DNS %+v", p.EIPs, p.DNS)
	}
	for _, v := range p.DNS.Values {
		if strings.HasPrefix(v, "3.0.0.") {
			t.Errorf("projected record lists released Elastic IP %s", v)
		}
	}
	if p.Network.Tags[observe.TagDNSName] != testName {
		t.Error("projection does not remember the name on the VPC")
	}
	if len(s.EIPs) != 2 || s.DNS != nil {
		t.Error("projection changed the observed state")
	}
	if before, after := Cost(s).Monthly, Cost(p).Monthly; after-before < 0.49 || after-before > 0.51 {
		t.Errorf("cost %.2f -> %.2f: want the new zone's $0.50 and nothing else", before, after)
	}
}

func TestPlanDNSWithoutEIPs(t *testing.T) {
	s := publicFleet(t, 2)
	steps, _, err := planDNS(s, dnsOpts())
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 2 || steps[0].Action != plan.Create || steps[1].Action != plan.Update {
		t.Fatalf("steps:\n%s\nwant zone, record", strings.Join(stepRungs(steps), "\n"))
	}
	if !strings.Contains(steps[1].Resource, "public IPs 54.0.0.1, 54.0.0.2") {
		t.Errorf("record step %q should list the instances' public IPs", steps[1].Resource)
	}
	for _, st := range steps {
		if st.Downtime != 0 {
			t.Errorf("step %s has downtime %v; publishing a name takes nothing away", st.Resource, st.Downtime)
		}
	}
	if !stage.Reached(projectDNS(s, dnsOpts()), stage.DNS) {
		t.Error("projection does not reach dns")
	}
}

func TestMigrateToDNSFromSingleSkipsEIPs(t *testing.T) {
	s := publicFleet(t, 1)
	p, err := Migrate(s, stage.DNS, dnsOpts())
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range p.Steps {
		if st.Rung != "dns" {
			t.Errorf("step %s %s belongs to rung %s", st.Action, st.Resource, st.Rung)
		}
		if slices.Contains(st.Calls, "ec2:AllocateAddress") {
			t.Errorf("step %s allocates an Elastic IP the next rung would release", st.Resource)
		}
	}
	if !someContains(p.Warnings, "eip: skipped") {
		t.Errorf("warnings %v should say the eip rung is skipped", p.Warnings)
	}
}

func TestMigrateToDNSFromNone(t *testing.T) {
	s := &observe.State{App: "pub", Region: "us-east-1", EIPs: []observe.EIP{}, Instances: []observe.Instance{}, Reserved: []observe.Reserved{}}
	p, err := Migrate(s, stage.DNS, dnsOpts())
	if err != nil {
		t.Fatal(err)
	}
	var rungs []string
	for _, st := range p.Steps {
		if !slices.Contains(rungs, st.Rung) {
			rungs = append(rungs, st.Rung)
		}
	}
	if !slices.Equal(rungs, []string{"single", "dns"}) {
		t.Errorf("rungs %v, want single then dns", rungs)
	}
	if p.CostAfter.Monthly <= p.CostBefore.Monthly {
		t.Errorf("cost %.2f -> %.2f: the instance and zone cost money", p.CostBefore.Monthly, p.CostAfter.Monthly)
	}
}

func TestPlanDNSNeedsAName(t *testing.T) {
	_, _, err := planDNS(publicFleet(t, 1), Options{})
	if fix := usageFix(t, err); !strings.Contains(fix, "--dns-name") {
		t.Errorf("fix %q should mention --dns-name", fix)
	}
}

func TestPlanDNSRefusesASecondName(t *testing.T) {
	s := published(t, 1)
	s.DNS.Values = []string{"9.9.9.9"} // stale, so the rung has work
	_, _, err := planDNS(s, Options{DNSName: "www.example.com"})
	if fix := usageFix(t, err); !strings.Contains(fix, "--dns-name "+testName) {
		t.Errorf("fix %q should offer the remembered name", fix)
	}
	// The remembered name is used when none is given.
	steps, _, err := planDNS(s, Options{})
	if err != nil || len(steps) != 1 || !strings.Contains(steps[0].Resource, testName) {
		t.Errorf("steps %v err %v: want one record update for the remembered name", stepRungs(steps), err)
	}
}

func TestPlanDNSWarnsAboutALongTTL(t *testing.T) {
	s := withEIPs(publicFleet(t, 1))
	steps, warns, err := planDNS(s, Options{DNSName: testName, TTL: 3600})
	if err != nil {
		t.Fatal(err)
	}
	if !someContains(warns, "TTL 3600s is long") || !someContains(warns, "1h0m0s") {
		t.Errorf("warnings %v should warn about a one-hour TTL", warns)
	}
	if d := steps[2].Downtime; d != time.Hour {
		t.Errorf("release downtime %v, want the TTL", d)
	}
	if p := projectDNS(s, Options{DNSName: testName, TTL: 3600}); p.DNS.TTL != 3600 {
		t.Errorf("projected TTL %d", p.DNS.TTL)
	}
}

func TestPlanDNSInAZoneThatExists(t *testing.T) {
	s := publicFleet(t, 1)
	// What PreviewZone leaves when a zone for the domain exists already.
	s.DNS = &observe.DNS{ZoneID: "Zexisting", ZoneName: "example.com", Name: testName}
	steps, _, err := planDNS(s, dnsOpts())
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 2 || steps[0].Action != plan.Update || !strings.Contains(steps[0].Resource, "existing hosted zone example.com") {
		t.Fatalf("steps:\n%s\nwant: use the existing zone, then the record", strings.Join(stepRungs(steps), "\n"))
	}
	p := projectDNS(s, dnsOpts())
	if p.DNS.ZoneOwned || p.DNS.ZoneID != "Zexisting" {
		t.Errorf("projected zone %+v: the found zone is not wtt's", p.DNS)
	}
	if Cost(p).Monthly != Cost(s).Monthly {
		t.Errorf("cost %.2f -> %.2f: a zone that exists costs nothing more", Cost(s).Monthly, Cost(p).Monthly)
	}
}

func TestPlanDNSResumesAfterRelease(t *testing.T) {
	// Killed after releasing the EIPs, before the record was written again:
	// it still lists the released addresses.
	s := published(t, 2)
	s.DNS.Values = []string{"3.0.0.1", "3.0.0.2"}
	steps, _, err := planDNS(s, dnsOpts())
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 1 || steps[0].Action != plan.Update || !strings.Contains(steps[0].Resource, "54.0.0.1, 54.0.0.2") {
		t.Fatalf("steps:\n%s\nwant one record update to the instances' addresses", strings.Join(stepRungs(steps), "\n"))
	}
}

func TestPlanDNSAtTheStage(t *testing.T) {
	s := published(t, 2)
	steps, _, err := planDNS(s, dnsOpts())
	if err != nil || len(steps) != 0 {
		t.Fatalf("steps %v err %v, want none", stepRungs(steps), err)
	}
	p, err := Migrate(s, stage.DNS, dnsOpts())
	if err != nil || !p.Empty() {
		t.Fatalf("migrate at dns: %v, %v", p, err)
	}
}

func TestBestZone(t *testing.T) {
	zones := []hostedZone{
		{id: "Zcom", name: "example.com"},
		{id: "Zsub", name: "sub.example.com"},
		{id: "Zle", name: "le.com"},
		{id: "Zdup", name: "sub.example.com"},
	}
	for _, tc := range []struct{ name, remembered, want string }{
		{"api.sub.example.com", "", "Zsub"},
		{"api.sub.example.com", "/hostedzone/Zdup", "Zdup"},
		{"api.example.com", "", "Zcom"},
		{"example.com", "", "Zcom"},
		{"api.other.com", "", ""},
		{"api.ample.com", "", ""},
	} {
		z, ok := bestZone(zones, tc.name, tc.remembered)
		if got := map[bool]string{true: z.id}[ok]; got != tc.want {
			t.Errorf("bestZone(%s, remembered %q) = %q, want %q", tc.name, tc.remembered, got, tc.want)
		}
	}
}

func TestZoneFor(t *testing.T) {
	for name, want := range map[string]string{
		"api.example.com":     "example.com",
		"a.b.example.co.uk":   "b.example.co.uk",
		"example.com":         "example.com", // never a zone for a top-level domain
		"api.whatisthetime.c": "whatisthetime.c",
	} {
		if got := zoneFor(name); got != want {
			t.Errorf("zoneFor(%s) = %s, want %s", name, got, want)
		}
	}
}

func TestCallerReferenceFitsAWS(t *testing.T) {
	e := &Env{App: "pub", State: &observe.State{Network: observe.Network{VPCID: "vpc-0123456789abcdef0"}}}
	if got := e.callerReference("example.com"); got != "wtt-pub-example.com-vpc-0123456789abcdef0" {
		t.Errorf("reference %q", got)
	}
	long := strings.Repeat("label.", 40) + "com"
	ref := e.callerReference(long)
	if len(ref) > 128 || ref != e.callerReference(long) {
		t.Errorf("reference %q: must stay within 128 characters and be deterministic", ref)
	}
	e2 := &Env{App: "pub", State: &observe.State{Network: observe.Network{VPCID: "vpc-other"}}}
	if e2.callerReference(long) == ref {
		t.Error("a new VPC (after down and up) must get a new reference: AWS never reuses one")
	}
}

// fakeCloud answers the Route 53 and EC2 calls of the zone and record
// helpers the way AWS does (REST-XML and query/XML).
type fakeCloud struct {
	mu        sync.Mutex
	zones     []fakeZone // what ListHostedZones shows
	byName    []fakeZone // what ListHostedZonesByName shows
	createErr string     // CreateHostedZone fails with this code
	tags      map[string][]string
	foreign   string // a CNAME for testName, written by someone else
	// publicIPs is what DescribeInstances shows, one answer per call; the
	// last repeats.
	publicIPs [][]string
	describes int
	calls     []string
	bodies    []string
}

type fakeZone struct{ id, name, ref, comment string }

func (z fakeZone) xml() string {
	return fmt.Sprintf(`<HostedZone><Id>/hostedzone/%s</Id><Name>%s.</Name><CallerReference>%s</CallerReference><Config><Comment>%s</Comment><PrivateZone>false</PrivateZone></Config></HostedZone>`,
		z.id, z.name, z.ref, z.comment)
}

const r53ns = `xmlns="https://route53.amazonaws.com/doc/2013-04-01/"`

func (f *fakeCloud) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	f.bodies = append(f.bodies, string(body))
	p := r.URL.Path
	if !strings.HasPrefix(p, "/2013-04-01/") {
		f.ec2(w, string(body))
		return
	}
	zonesXML := func(zs []fakeZone) string {
		var b strings.Builder
		for _, z := range zs {
			b.WriteString(z.xml())
		}
		return b.String()
	}
	w.Header().Set("Content-Type", "text/xml")
	switch {
	case r.Method == "GET" && p == "/2013-04-01/hostedzone":
		f.calls = append(f.calls, "ListHostedZones")
		fmt.Fprintf(w, `<ListHostedZonesResponse %s><HostedZones>%s</HostedZones><IsTruncated>false</IsTruncated><MaxItems>100</MaxItems></ListHostedZonesResponse>`, r53ns, zonesXML(f.zones))
	case r.Method == "POST" && p == "/2013-04-01/hostedzone":
		f.calls = append(f.calls, "CreateHostedZone")
		if f.createErr != "" {
			w.WriteHeader(400)
			fmt.Fprintf(w, `<ErrorResponse %s><Error><Type>Sender</Type><Code>%s</Code><Message>exists</Message></Error><RequestId>r</RequestId></ErrorResponse>`, r53ns, f.createErr)
			return
		}
		z := fakeZone{id: "Znew", name: between(string(body), "<Name>", "</Name>"), ref: between(string(body), "<CallerReference>", "</CallerReference>"),
			comment: between(string(body), "<Comment>", "</Comment>")}
		f.zones = append(f.zones, z)
		w.WriteHeader(201)
		fmt.Fprintf(w, `<CreateHostedZoneResponse %s>%s<ChangeInfo><Id>/change/C0</Id><Status>PENDING</Status><SubmittedAt>2026-01-01T00:00:00Z</SubmittedAt></ChangeInfo><DelegationSet><NameServers><NameServer>ns-1.example</NameServer></NameServers></DelegationSet></CreateHostedZoneResponse>`, r53ns, z.xml())
	case r.Method == "GET" && p == "/2013-04-01/hostedzonesbyname":
		f.calls = append(f.calls, "ListHostedZonesByName")
		fmt.Fprintf(w, `<ListHostedZonesByNameResponse %s><HostedZones>%s</HostedZones><IsTruncated>false</IsTruncated><MaxItems>100</MaxItems></ListHostedZonesByNameResponse>`, r53ns, zonesXML(f.byName))
	case strings.HasPrefix(p, "/2013-04-01/tags/hostedzone/"):
		id := strings.TrimPrefix(p, "/2013-04-01/tags/hostedzone/")
		if r.Method == "POST" {
			f.calls = append(f.calls, "ChangeTagsForResource "+id)
			if f.tags == nil {
				f.tags = map[string][]string{}
			}
			f.tags[id] = append(f.tags[id], between(string(body), "<Key>", "</Key>"))
			fmt.Fprintf(w, `<ChangeTagsForResourceResponse %s></ChangeTagsForResourceResponse>`, r53ns)
			return
		}
		f.calls = append(f.calls, "ListTagsForResource "+id)
		var tags strings.Builder
		for _, k := range f.tags[id] {
			fmt.Fprintf(&tags, `<Tag><Key>%s</Key><Value>pub</Value></Tag>`, k)
		}
		fmt.Fprintf(w, `<ListTagsForResourceResponse %s><ResourceTagSet><ResourceType>hostedzone</ResourceType><ResourceId>%s</ResourceId><Tags>%s</Tags></ResourceTagSet></ListTagsForResourceResponse>`, r53ns, id, tags.String())
	case r.Method == "GET" && strings.Contains(p, "/rrset"):
		f.calls = append(f.calls, "ListResourceRecordSets")
		rr := ""
		if f.foreign != "" {
			rr = fmt.Sprintf(`<ResourceRecordSet><Name>%s.</Name><Type>CNAME</Type><TTL>300</TTL><ResourceRecords><ResourceRecord><Value>%s</Value></ResourceRecord></ResourceRecords></ResourceRecordSet>`, testName, f.foreign)
		}
		fmt.Fprintf(w, `<ListResourceRecordSetsResponse %s><ResourceRecordSets>%s</ResourceRecordSets><IsTruncated>false</IsTruncated><MaxItems>10</MaxItems></ListResourceRecordSetsResponse>`, r53ns, rr)
	case r.Method == "POST" && strings.HasSuffix(p, "/rrset/"), r.Method == "POST" && strings.HasSuffix(p, "/rrset"):
		f.calls = append(f.calls, "ChangeResourceRecordSets")
		fmt.Fprintf(w, `<ChangeResourceRecordSetsResponse %s><ChangeInfo><Id>/change/C1</Id><Status>PENDING</Status><SubmittedAt>2026-01-01T00:00:00Z</SubmittedAt></ChangeInfo></ChangeResourceRecordSetsResponse>`, r53ns)
	case r.Method == "GET" && strings.HasPrefix(p, "/2013-04-01/change/"):
		f.calls = append(f.calls, "GetChange")
		fmt.Fprintf(w, `<GetChangeResponse %s><ChangeInfo><Id>/change/C1</Id><Status>INSYNC</Status><SubmittedAt>2026-01-01T00:00:00Z</SubmittedAt></ChangeInfo></GetChangeResponse>`, r53ns)
	default:
		w.WriteHeader(400)
		fmt.Fprintf(w, `<ErrorResponse %s><Error><Code>Unsupported</Code><Message>%s %s</Message></Error></ErrorResponse>`, r53ns, r.Method, p)
	}
}

func (f *fakeCloud) ec2(w http.ResponseWriter, body string) {
	action := between(body+"&", "Action=", "&")
	f.calls = append(f.calls, action)
	w.Header().Set("Content-Type", "text/xml")
	switch action {
	case "CreateTags":
		fmt.Fprint(w, `<CreateTagsResponse><requestId>r</requestId><return>true</return></CreateTagsResponse>`)
	case "DescribeInstances":
		ips := f.publicIPs[min(f.describes, len(f.publicIPs)-1)]
		f.describes++
		fmt.Fprint(w, `<DescribeInstancesResponse><requestId>r</requestId><reservationSet><item><instancesSet>`)
		for k, ip := range ips {
			fmt.Fprintf(w, `<item><instanceId>i-%d</instanceId>`, k+1)
			if ip != "" {
				fmt.Fprintf(w, `<ipAddress>%s</ipAddress>`, ip)
			}
			fmt.Fprint(w, `</item>`)
		}
		fmt.Fprint(w, `</instancesSet></item></reservationSet></DescribeInstancesResponse>`)
	default:
		w.WriteHeader(400)
		fmt.Fprintf(w, `<Response><Errors><Error><Code>Unsupported</Code><Message>%s</Message></Error></Errors></Response>`, action)
	}
}

func between(s, from, to string) string {
	_, after, ok := strings.Cut(s, from)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(after, to)
	return v
}

func (f *fakeCloud) called(prefix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

// fakeEnv is an app "pub" with VPC vpc-1 whose clients talk to f.
func fakeEnv(t *testing.T, f *fakeCloud) *Env {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	cfg := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Credentials: aws.AnonymousCredentials{}, RetryMaxAttempts: 1}
	s := publicFleet(t, 2)
	return &Env{
		C: &awsclient.Clients{Config: cfg, EC2: ec2.NewFromConfig(cfg), Route53: route53.NewFromConfig(cfg)},
		N: names.For("pub"), App: "pub", State: s,
		Opts: Options{PollInterval: time.Millisecond, WaitTimeout: 200 * time.Millisecond},
	}
}

func TestEnsureZoneUsesTheZoneThatHoldsTheName(t *testing.T) {
	f := &fakeCloud{zones: []fakeZone{
		{id: "Zcom", name: "example.com", comment: "the company's"},
		{id: "Zother", name: "other.com"},
	}}
	e := fakeEnv(t, f)
	id, zone, created, err := e.EnsureZone(context.Background(), "API.example.com.")
	if err != nil {
		t.Fatal(err)
	}
	if id != "Zcom" || zone != "example.com" || created {
		t.Errorf("got %s %s created=%v, want the existing Zcom", id, zone, created)
	}
	if n := f.called("CreateHostedZone") + f.called("ChangeTagsForResource"); n != 0 {
		t.Errorf("calls %v: a zone that is not wtt's is neither created nor tagged", f.calls)
	}
}

func TestEnsureZoneCreatesTheParentDomain(t *testing.T) {
	f := &fakeCloud{zones: []fakeZone{{id: "Zother", name: "other.com"}}}
	e := fakeEnv(t, f)
	id, zone, created, err := e.EnsureZone(context.Background(), testName)
	if err != nil {
		t.Fatal(err)
	}
	if id != "Znew" || zone != "example.com" || !created {
		t.Errorf("got %s %s created=%v, want a new zone example.com", id, zone, created)
	}
	z := f.zones[len(f.zones)-1]
	if z.comment != "created by wtt app pub" || z.ref != "wtt-pub-example.com-vpc-1" {
		t.Errorf("created zone %+v: want the app's comment and a deterministic reference", z)
	}
	if got := f.tags["Znew"]; !slices.Contains(got, names.TagApp) {
		t.Errorf("zone tags %v: down deletes only a zone tagged for the app", got)
	}
	// Running it again finds the zone instead of creating a second one.
	if id2, _, created2, err := e.EnsureZone(context.Background(), testName); err != nil || id2 != "Znew" || created2 {
		t.Errorf("second run: %s created=%v err=%v", id2, created2, err)
	}
	if n := f.called("CreateHostedZone"); n != 1 {
		t.Errorf("CreateHostedZone called %d times, want 1", n)
	}
}

func TestEnsureZoneAfterALostCreateResponse(t *testing.T) {
	// AWS created the zone but the answer was lost; the retry is refused
	// because the caller reference was used.
	ours := fakeZone{id: "Zlost", name: "example.com", ref: "wtt-pub-example.com-vpc-1", comment: "created by wtt app pub"}
	f := &fakeCloud{createErr: "HostedZoneAlreadyExists", byName: []fakeZone{{id: "Zsomeone", name: "example.com", ref: "theirs"}, ours}}
	e := fakeEnv(t, f)
	id, _, created, err := e.EnsureZone(context.Background(), testName)
	if err != nil {
		t.Fatal(err)
	}
	if id != "Zlost" || !created {
		t.Errorf("got %s created=%v, want the zone the lost request created", id, created)
	}
	if f.called("ChangeTagsForResource Zlost") != 1 {
		t.Errorf("calls %v: the found zone must be tagged", f.calls)
	}
}

func TestEnsureZoneWhenTheReferenceIsSpent(t *testing.T) {
	f := &fakeCloud{createErr: "HostedZoneAlreadyExists"}
	_, _, _, err := fakeEnv(t, f).EnsureZone(context.Background(), testName)
	if err == nil || !strings.Contains(err.Error(), "is gone") {
		t.Errorf("err = %v, want one that explains the spent reference", err)
	}
}

func TestEnsureZoneTagsItsOwnUntaggedZone(t *testing.T) {
	// Killed between CreateHostedZone and tagging: the comment says it is ours.
	f := &fakeCloud{zones: []fakeZone{{id: "Zmine", name: "example.com", comment: "created by wtt app pub"}}}
	e := fakeEnv(t, f)
	if _, _, _, err := e.EnsureZone(context.Background(), testName); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := e.EnsureZone(context.Background(), testName); err != nil {
		t.Fatal(err)
	}
	if n := f.called("ChangeTagsForResource Zmine"); n != 1 {
		t.Errorf("tagged %d times, want once (then the tags are there): %v", n, f.calls)
	}
}

func TestRememberDNS(t *testing.T) {
	f := &fakeCloud{}
	e := fakeEnv(t, f)
	ctx := context.Background()
	if err := e.RememberDNS(ctx, testName+".", "/hostedzone/Z1"); err != nil {
		t.Fatal(err)
	}
	if f.called("CreateTags") != 1 || !strings.Contains(f.bodies[0], "vpc-1") || !strings.Contains(f.bodies[0], "Z1") {
		t.Fatalf("calls %v bodies %v", f.calls, f.bodies)
	}
	if e.State.Network.Tags[observe.TagDNSName] != testName || e.State.Network.Tags[observe.TagDNSZone] != "Z1" {
		t.Errorf("tags %v", e.State.Network.Tags)
	}
	if err := e.RememberDNS(ctx, testName, "Z1"); err != nil || f.called("CreateTags") != 1 {
		t.Errorf("second call wrote again (%v): %v", err, f.calls)
	}
	e.State.Network.VPCID = ""
	if err := e.RememberDNS(ctx, testName, "Z2"); err == nil || !strings.Contains(err.Error(), "wtt up") {
		t.Errorf("without a VPC: %v", err)
	}
}

func TestPublishAddressesNeverPublishesAReleasedEIP(t *testing.T) {
	// Just after release AWS may still show the old address, then no
	// address, then the new one.
	f := &fakeCloud{publicIPs: [][]string{{"3.0.0.1", "3.0.0.2"}, {"", "54.1.1.2"}, {"54.1.1.1", "54.1.1.2"}}}
	e := fakeEnv(t, f)
	e.State.DNS = &observe.DNS{ZoneID: "Z1", ZoneName: "example.com", Name: testName, Type: "A", TTL: 60, Values: []string{"3.0.0.1", "3.0.0.2"}}
	// Observed before the step, just after the release: the old addresses.
	e.State.Instances[0].PublicIP, e.State.Instances[1].PublicIP = "3.0.0.1", ""
	released := map[string]bool{"3.0.0.1": true, "3.0.0.2": true}
	if err := e.publishAddresses(context.Background(), &plan.Exec{}, testName, 60, released); err != nil {
		t.Fatal(err)
	}
	var rrset string
	for _, b := range f.bodies {
		if strings.Contains(b, "UPSERT") {
			rrset = b
		}
	}
	if !strings.Contains(rrset, "54.1.1.1") || !strings.Contains(rrset, "54.1.1.2") || strings.Contains(rrset, "3.0.0.") {
		t.Errorf("record written: %s", rrset)
	}
	if f.called("GetChange") == 0 {
		t.Error("the change was not waited for")
	}
}

// Addresses observed just before the step that are not released ones are
// the instances' new addresses: published without describing them again.
func TestPublishAddressesTakesTheObservedNewAddresses(t *testing.T) {
	f := &fakeCloud{publicIPs: [][]string{{"3.0.0.1", "3.0.0.2"}}}
	e := fakeEnv(t, f)
	e.State.DNS = &observe.DNS{ZoneID: "Z1", ZoneName: "example.com", Name: testName, Type: "A", TTL: 60, Values: []string{"3.0.0.1", "3.0.0.2"}}
	released := map[string]bool{"3.0.0.1": true, "3.0.0.2": true}
	if err := e.publishAddresses(context.Background(), &plan.Exec{}, testName, 60, released); err != nil {
		t.Fatal(err)
	}
	if f.describes != 0 {
		t.Errorf("described the instances %d time(s): the observed addresses are new", f.describes)
	}
	var rrset string
	for _, b := range f.bodies {
		if strings.Contains(b, "UPSERT") {
			rrset = b
		}
	}
	if !strings.Contains(rrset, "54.0.0.1") || !strings.Contains(rrset, "54.0.0.2") {
		t.Errorf("record written: %s", rrset)
	}
	if d := e.State.DNS; !slices.Equal(d.Values, []string{"54.0.0.1", "54.0.0.2"}) || d.TTL != 60 {
		t.Errorf("the state after the step shows %+v, not the record written", d)
	}
}

func TestPublishAddressesLeavesARecordThatIsRight(t *testing.T) {
	f := &fakeCloud{publicIPs: [][]string{{"54.0.0.1", "54.0.0.2"}}}
	e := fakeEnv(t, f)
	e.State.DNS = &observe.DNS{ZoneID: "Z1", ZoneName: "example.com", Name: testName, Type: "A", TTL: 60, Values: []string{"54.0.0.1", "54.0.0.2"}}
	if err := e.publishAddresses(context.Background(), &plan.Exec{}, testName, 60, nil); err != nil {
		t.Fatal(err)
	}
	if f.called("ChangeResourceRecordSets") != 0 {
		t.Errorf("calls %v: nothing to change", f.calls)
	}
}

func TestWaitForNewAddressesTimesOut(t *testing.T) {
	// An instance launched without a public IP gets none when its EIP goes.
	f := &fakeCloud{publicIPs: [][]string{{"", "54.1.1.2"}}}
	e := fakeEnv(t, f)
	_, err := e.waitPublicIPs(context.Background(), []string{"i-1", "i-2"}, nil)
	var we *WaitError
	if !errors.As(err, &we) || !strings.Contains(we.What, "public IPv4") {
		t.Fatalf("err = %v, want a WaitError about the public IPv4", err)
	}
	if f.describes < 2 {
		t.Errorf("described %d time(s): the wait should poll", f.describes)
	}
}

func TestPreviewZone(t *testing.T) {
	f := &fakeCloud{zones: []fakeZone{{id: "Zcom", name: "example.com"}}}
	e := fakeEnv(t, f)
	if err := e.PreviewZone(context.Background(), testName); err != nil {
		t.Fatal(err)
	}
	if d := e.State.DNS; d == nil || d.ZoneID != "Zcom" || d.ZoneOwned || d.Type != "" {
		t.Fatalf("previewed %+v", d)
	}
	steps, _, err := planDNS(e.State, dnsOpts())
	if err != nil || len(steps) == 0 || !strings.Contains(steps[0].Resource, "existing hosted zone example.com") {
		t.Errorf("plan after preview: %v %v", stepRungs(steps), err)
	}
	if f.called("Create") != 0 || f.called("Change") != 0 {
		t.Errorf("a preview must not change anything: %v", f.calls)
	}
}

func TestPreviewZoneRefusesANameInUse(t *testing.T) {
	f := &fakeCloud{zones: []fakeZone{{id: "Zcom", name: "example.com"}}, foreign: "shop.example.net"}
	e := fakeEnv(t, f)
	err := e.PreviewZone(context.Background(), testName)
	if fix := usageFix(t, err); !strings.Contains(fix, "another --dns-name") || !strings.Contains(err.Error(), "CNAME record") {
		t.Errorf("err %v", err)
	}
	// Once the app remembers the name, the record is its own.
	e.State.Network.Tags[observe.TagDNSName] = testName
	if err := e.refuseForeignRecord(context.Background(), "Zcom", "example.com", testName); err != nil {
		t.Errorf("the app's own record refused: %v", err)
	}
}

func TestPreviewZoneRefusesASecondName(t *testing.T) {
	f := &fakeCloud{}
	e := fakeEnv(t, f)
	e.State = published(t, 1)
	err := e.PreviewZone(context.Background(), "www.example.com")
	if fix := usageFix(t, err); !strings.Contains(fix, "--dns-name "+testName) {
		t.Errorf("fix %q", fix)
	}
	if err := e.PreviewZone(context.Background(), testName); err != nil {
		t.Errorf("the published name refused: %v", err)
	}
	if len(f.calls) != 0 {
		t.Errorf("calls %v: a remembered name needs no lookup", f.calls)
	}
}
