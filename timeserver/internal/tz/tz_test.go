package tz

import (
	"archive/zip"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestLookup(t *testing.T) {
	d := New()
	loc, name, ok := d.Lookup("Asia/Seoul")
	if !ok || name != "Asia/Seoul" || loc.String() != "Asia/Seoul" {
		t.Fatalf("Lookup(Asia/Seoul) = %v, %q, %v", loc, name, ok)
	}
	if _, name, ok := d.Lookup("asia/seoul"); !ok || name != "Asia/Seoul" {
		t.Fatalf("case-insensitive lookup = %q, %v", name, ok)
	}
	if _, name, ok := d.Lookup("UTC"); !ok || name != "UTC" {
		t.Fatalf("Lookup(UTC) = %q, %v", name, ok)
	}
	for _, bad := range []string{"", "Local", "Mars/Olympus", "../etc/passwd", "/etc/localtime",
		"Asia/Seoul/", "posix/Asia/Seoul", "Asia\x00Seoul", "Asia/Seoul\n", strings.Repeat("A", 100)} {
		if _, _, ok := d.Lookup(bad); ok {
			t.Errorf("Lookup(%q) succeeded", bad)
		}
	}
}

func TestNames(t *testing.T) {
	d := New()
	names := d.Names()
	if len(names) < 400 {
		t.Fatalf("only %d zones", len(names))
	}
	if len(names) != len(generatedNames) {
		t.Errorf("%d of %d generated zones failed to load", len(generatedNames)-len(names), len(generatedNames))
	}
	if !slices.IsSorted(names) {
		t.Error("names not sorted")
	}
	for _, want := range []string{"Asia/Seoul", "Europe/London", "America/New_York", "UTC"} {
		if _, found := slices.BinarySearch(names, want); !found {
			t.Errorf("%s missing", want)
		}
	}
	for _, n := range names {
		if !validName(n) {
			t.Errorf("generated name %q fails validName", n)
		}
	}
}

func TestLookupDoesNotAllocate(t *testing.T) {
	d := New()
	allocs := testing.AllocsPerRun(100, func() {
		if _, _, ok := d.Lookup("Europe/London"); !ok {
			t.Fatal("not found")
		}
	})
	if allocs != 0 {
		t.Errorf("exact Lookup allocates %v times", allocs)
	}
}

// TestGeneratedListMatchesGOROOT says when zones_gen.go is stale, that is
// when the Go release building the server ships another tzdata.
func TestGeneratedListMatchesGOROOT(t *testing.T) {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Skipf("go env GOROOT: %v", err)
	}
	zr, err := zip.OpenReader(filepath.Join(strings.TrimSpace(string(out)), "lib", "time", "zoneinfo.zip"))
	if err != nil {
		t.Skipf("no zoneinfo.zip in GOROOT: %v", err)
	}
	defer zr.Close()
	var names []string
	for _, f := range zr.File {
		if !strings.HasSuffix(f.Name, "/") {
			names = append(names, f.Name)
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, generatedNames[:]) {
		t.Errorf("zones_gen.go is stale (%d zones, GOROOT has %d): run go generate ./timeserver/...",
			len(generatedNames), len(names))
	}
}

func BenchmarkLookup(b *testing.B) {
	d := New()
	b.ReportAllocs()
	for b.Loop() {
		d.Lookup("Asia/Seoul")
	}
}

func BenchmarkNew(b *testing.B) {
	for b.Loop() {
		New()
	}
}
