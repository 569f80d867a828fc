// Package tz knows the IANA time zones the server can answer for and caches
// one *time.Location per zone, so a request never touches the disk or the
// embedded zip.
//
// The list of names is generated (see gen.go) from the Go distribution's
// $GOROOT/lib/time/zoneinfo.zip, the same file the time/tzdata package
// embeds, so it is available in a scratch or distroless image that has no
// /usr/share/zoneinfo. The rules themselves are loaded with time.LoadLocation,
// which prefers the system's zoneinfo when present (usually the fresher one)
// and falls back on the copy embedded by time/tzdata.
package tz

//go:generate go run gen.go -o zones_gen.go

import (
	"strings"
	"sync"
	"time"

	_ "time/tzdata" // zone rules inside the binary: works without /usr/share/zoneinfo
)

// maxNameLen bounds a name handed to time.LoadLocation; the longest IANA
// name (America/Argentina/ComodRivadavia) has 32 bytes.
const maxNameLen = 64

type entry struct {
	name string
	loc  *time.Location
}

// DB is a read-mostly set of zones. The zero value is not usable; call New.
type DB struct {
	names   []string          // every loadable known name, sorted
	byName  map[string]*entry // exact names, read-only after New
	byLower map[string]*entry // lower-cased names, read-only after New
	extra   sync.Map          // string -> *entry: loadable names outside the list
}

// New loads every zone of the generated list. Names that the running system
// cannot load (which should not happen, as the rules are embedded) are left
// out of the list.
func New() *DB {
	d := &DB{
		names:   make([]string, 0, len(generatedNames)),
		byName:  make(map[string]*entry, len(generatedNames)),
		byLower: make(map[string]*entry, len(generatedNames)),
	}
	for _, n := range generatedNames {
		loc, err := time.LoadLocation(n)
		if err != nil {
			continue
		}
		e := &entry{name: n, loc: loc}
		d.names = append(d.names, n)
		d.byName[n] = e
		d.byLower[strings.ToLower(n)] = e
	}
	return d
}

// Names returns the sorted zone names. The caller must not modify it.
func (d *DB) Names() []string { return d.names }

// Lookup finds a zone by its IANA name. An exact match costs one map read
// and no allocation; a name in another letter case ("asia/seoul") is
// accepted too, and the canonical spelling returned. A well-formed name
// outside the generated list (a zone newer than the Go release, present in
// the system's zoneinfo) is loaded once and cached.
func (d *DB) Lookup(name string) (loc *time.Location, canonical string, ok bool) {
	if e, hit := d.byName[name]; hit {
		return e.loc, e.name, true
	}
	if !validName(name) {
		return nil, "", false
	}
	if e, hit := d.byLower[strings.ToLower(name)]; hit {
		return e.loc, e.name, true
	}
	if v, hit := d.extra.Load(name); hit {
		e := v.(*entry)
		return e.loc, e.name, true
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, "", false
	}
	// Only names that load are stored, and they are files of the zone
	// database, so the cache cannot grow without bound.
	v, _ := d.extra.LoadOrStore(name, &entry{name: strings.Clone(name), loc: l})
	e := v.(*entry)
	return e.loc, e.name, true
}

// validName accepts what IANA zone names are made of and refuses the rest
// before it reaches the file system: "Local", absolute or relative paths,
// the posix/ and right/ trees of some distributions, control bytes.
func validName(name string) bool {
	if name == "" || len(name) > maxNameLen || name == "Local" ||
		name[0] == '/' || name[len(name)-1] == '/' || strings.Contains(name, "..") ||
		strings.Contains(name, "//") ||
		strings.HasPrefix(name, "posix/") || strings.HasPrefix(name, "right/") {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '/', c == '_', c == '-', c == '+':
		default:
			return false
		}
	}
	return true
}
