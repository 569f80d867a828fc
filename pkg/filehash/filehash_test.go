package filehash

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func sum(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

// write puts content in a file whose modification time is mtime.
func write(t *testing.T, path string, content []byte, mtime time.Time) {
	t.Helper()
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

func TestRemembersAHashWhileSizeAndTimeStay(t *testing.T) {
	dir := t.TempDir()
	c := Cache{Dir: filepath.Join(dir, "cache")}
	bin := filepath.Join(dir, "server")
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	write(t, bin, []byte("version one"), old)

	got, err := c.SHA256(bin)
	if err != nil || got != sum([]byte("version one")) {
		t.Fatalf("first hash = %q, %v; want the content's", got, err)
	}
	// Same size, same time, other bytes: only a remembered hash gives the
	// first answer back (this is what a cache that works looks like, and
	// why the racy window exists).
	write(t, bin, []byte("version two"), old)
	if got, _ := c.SHA256(bin); got != sum([]byte("version one")) {
		t.Fatalf("second hash = %q; want the remembered one", got)
	}
	// A new modification time: hashed again.
	write(t, bin, []byte("version two"), old.Add(time.Second))
	if got, _ := c.SHA256(bin); got != sum([]byte("version two")) {
		t.Fatalf("after a new mtime = %q; want the new content's", got)
	}
	// A new size with the same time: hashed again.
	write(t, bin, []byte("version three!"), old.Add(time.Second))
	if got, _ := c.SHA256(bin); got != sum([]byte("version three!")) {
		t.Fatalf("after a new size = %q; want the new content's", got)
	}
}

func TestAFreshFileIsNotRemembered(t *testing.T) {
	dir := t.TempDir()
	c := Cache{Dir: filepath.Join(dir, "cache")}
	bin := filepath.Join(dir, "server")
	now := time.Now()
	write(t, bin, []byte("just built"), now)
	if _, err := c.SHA256(bin); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(c.Dir); len(entries) != 0 {
		t.Fatalf("a file modified %s ago was remembered: %v", time.Since(now), entries)
	}
	// Rewritten within the same second: the new content's hash.
	write(t, bin, []byte("just BUILT"), now)
	if got, _ := c.SHA256(bin); got != sum([]byte("just BUILT")) {
		t.Fatalf("got %q; want the rewritten content's", got)
	}
	// Once it is older than the window, it is remembered.
	c.now = func() time.Time { return now.Add(racyWindow) }
	if _, err := c.SHA256(bin); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(c.Dir); len(entries) != 1 {
		t.Fatalf("cache holds %d entries; want 1", len(entries))
	}
}

func TestWithoutACacheOrWithABrokenOneItHashes(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "server")
	write(t, bin, []byte("content"), time.Now().Add(-time.Hour))
	if got, err := (Cache{}).SHA256(bin); err != nil || got != sum([]byte("content")) {
		t.Fatalf("no cache: %q, %v", got, err)
	}
	c := Cache{Dir: filepath.Join(dir, "cache")}
	if _, err := c.SHA256(bin); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(c.Dir)
	if len(entries) != 1 {
		t.Fatalf("cache holds %d entries; want 1", len(entries))
	}
	if err := os.WriteFile(filepath.Join(c.Dir, entries[0].Name()), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := c.SHA256(bin); err != nil || got != sum([]byte("content")) {
		t.Fatalf("broken entry: %q, %v", got, err)
	}
	if _, err := c.SHA256(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("a missing file hashed without an error")
	}
}
