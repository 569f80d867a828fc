// Package filehash gives a file's SHA-256, remembered across runs.
//
// wtt names the time server binary it delivers by its SHA-256 (the S3 key
// is content-addressed), so every command that launches instances hashed
// the whole binary, 12 MB, again: about a tenth of such a command's CPU
// against the emulator. Like git's index, this remembers a hash with the
// file's size and modification time, in the user's cache folder, and hashes
// again when either differs.
//
// A file changed twice within its timestamp's granularity could keep size
// and time; as git does with "racily clean" entries, a hash is not
// remembered while the file is younger than racyWindow, so such a file is
// hashed until it has been left alone for that long.
package filehash

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"time"
)

// racyWindow is how old a file must be before its hash is remembered.
const racyWindow = 2 * time.Second

// entry is what is remembered of one file.
type entry struct {
	Path    string `json:"path"`
	Size    int64  `json:"size"`
	MtimeNs int64  `json:"mtimeNs"`
	SHA256  string `json:"sha256"`
}

// Cache remembers hashes in one folder; the zero value (no folder)
// remembers nothing and hashes every time.
type Cache struct {
	Dir string
	now func() time.Time
}

// Default is the cache in the user's cache folder (os.UserCacheDir, e.g.
// ~/.cache/wtt/filehash); without one it remembers nothing.
func Default() Cache {
	dir, err := os.UserCacheDir()
	if err != nil {
		return Cache{}
	}
	return Cache{Dir: filepath.Join(dir, "wtt", "filehash")}
}

// SHA256 is the hex SHA-256 of the file at path: the remembered one if the
// file's size and modification time are those it was hashed at, else a
// fresh one (then remembered). Failing to read or write the cache is not an
// error: the file is hashed.
func (c Cache) SHA256(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return "", err
	}
	slot := c.slot(abs)
	if e, ok := c.load(slot); ok && e.Path == abs && e.Size == fi.Size() && e.MtimeNs == fi.ModTime().UnixNano() {
		return e.SHA256, nil
	}
	sum, err := hashFile(abs)
	if err != nil {
		return "", err
	}
	if slot != "" && c.clock().Sub(fi.ModTime()) >= racyWindow {
		c.store(slot, entry{Path: abs, Size: fi.Size(), MtimeNs: fi.ModTime().UnixNano(), SHA256: sum})
	}
	return sum, nil
}

func (c Cache) clock() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

// slot is the cache file for a path ("" without a folder).
func (c Cache) slot(abs string) string {
	if c.Dir == "" {
		return ""
	}
	h := sha256.Sum256([]byte(abs))
	return filepath.Join(c.Dir, hex.EncodeToString(h[:16])+".json")
}

func (c Cache) load(slot string) (entry, bool) {
	if slot == "" {
		return entry{}, false
	}
	b, err := os.ReadFile(slot)
	if err != nil {
		return entry{}, false
	}
	var e entry
	if json.Unmarshal(b, &e) != nil || e.SHA256 == "" {
		return entry{}, false
	}
	return e, true
}

// store writes the entry through a temporary file and a rename, so a
// concurrent wtt reads the old entry or the new one, never half of one.
func (c Cache) store(slot string, e entry) {
	if os.MkdirAll(filepath.Dir(slot), 0o700) != nil {
		return
	}
	b, err := json.Marshal(e)
	if err != nil {
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(slot), ".entry-*")
	if err != nil {
		return
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if werr != nil || cerr != nil || os.Rename(tmp.Name(), slot) != nil {
		os.Remove(tmp.Name())
	}
}

func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
