package diagram

import (
	"bytes"
	"encoding/xml"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whatsthetime/wtt/pkg/observe"
	fx "github.com/whatsthetime/wtt/pkg/statefixtures"
)

var out = flag.String("out", "", "also write each fixture's SVG into this directory, to look at")

func rungs() map[string]*observe.State {
	return map[string]*observe.State{
		"single": fx.Single(), "eip": fx.EIP(), "dns": fx.DNS(3, 3600), "alb": fx.ALB(),
		"asg": fx.ASG(), "multi-az": fx.MultiAZ(), "reserved": fx.Reserved(),
	}
}

// Every rung renders in every format, with the resource ids on the nodes,
// and the SVG is well-formed XML.
func TestEveryRungRenders(t *testing.T) {
	for name, s := range rungs() {
		g := Build(s)
		for _, f := range Formats {
			var b bytes.Buffer
			if err := Render(&b, f, g); err != nil {
				t.Fatalf("%s %s: %v", name, f, err)
			}
			for _, i := range s.LiveInstances() {
				if !strings.Contains(b.String(), i.ID) {
					t.Errorf("%s %s lacks instance %s", name, f, i.ID)
				}
			}
			if f == "svg" {
				d := xml.NewDecoder(&b)
				for {
					if _, err := d.Token(); err != nil {
						if err.Error() != "EOF" {
							t.Errorf("%s svg is not well-formed: %v", name, err)
						}
						break
					}
				}
				if *out != "" {
					var o bytes.Buffer
					_ = SVG(&o, g)
					_ = os.WriteFile(filepath.Join(*out, name+".svg"), o.Bytes(), 0o644)
				}
			}
		}
	}
}

// What the picture shows follows the stage: the hop users cross and the
// rule that admits them.
func TestWhatEachRungShows(t *testing.T) {
	var dot bytes.Buffer
	_ = Dot(&dot, Build(fx.Single()))
	for _, want := range []string{`n_internet -> n_i_1 [label="tcp/80 sg-web from 0.0.0.0/0"]`, "cluster_n_us_east_1a", "subnet-pub-a (public)", "public 54.0.0.1"} {
		if !strings.Contains(dot.String(), want) {
			t.Errorf("single dot lacks %q:\n%s", want, dot.String())
		}
	}
	var m bytes.Buffer
	_ = Mermaid(&m, Build(fx.EIP()))
	for _, want := range []string{`n_internet -->|"tcp/80 sg-web from 0.0.0.0/0"| n_eipalloc_1`, "n_eipalloc_1 --> n_i_1", "Elastic IP 3.3.3.3"} {
		if !strings.Contains(m.String(), want) {
			t.Errorf("eip mermaid lacks %q:\n%s", want, m.String())
		}
	}
	dot.Reset()
	_ = Dot(&dot, Build(fx.Reserved()))
	for _, want := range []string{"subgraph cluster_asg", "Auto Scaling group wtt-app-asg: t2.micro, min 3, desired 3, max 6", "n_lb -> n_tg", `n_tg -> n_i_3 [label="tcp/80 sg-priv from sg-alb"]`,
		"ri-1: 3 × t2.micro, regional, until 2027-01-01 (covers 3 running)", "cluster_n_us_east_1c", "target healthy"} {
		if !strings.Contains(dot.String(), want) {
			t.Errorf("reserved dot lacks %q:\n%s", want, dot.String())
		}
	}
	if strings.Contains(dot.String(), "n_internet -> n_i_") {
		t.Errorf("private instances drawn as reachable from the internet")
	}
}

func TestLargeFleetStaysReadable(t *testing.T) {
	s := fx.DNS(1, 60)
	for k := range 30 {
		i := s.Instances[0]
		i.ID = "i-big" + string(rune('a'+k%26)) + string(rune('a'+k/26))
		s.Instances = append(s.Instances, i)
	}
	g := Build(s)
	n := 0
	for _, node := range g.Nodes {
		if node.Kind == KindInstance {
			n++
		}
	}
	if n != MaxInstances+1 {
		t.Errorf("%d instance boxes for 31 instances, want %d", n, MaxInstances+1)
	}
}
