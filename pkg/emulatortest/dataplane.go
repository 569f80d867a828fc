package emulatortest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// ServerBinaryEnv names the environment variable that points the data plane
// at an already built time server (for this machine).
const ServerBinaryEnv = "WTT_SERVER_BINARY"

// DataPlane reports whether the emulator runs its data plane (WithDataPlane).
func (e *Emulator) DataPlane() bool { return e.dataPlane }

// DNSAddr is the address of the emulator's DNS server, which answers for
// Route 53's public hosted zones and the load balancers' names: UDP on
// 127.0.0.1 at the emulator's own port. Empty without the data plane.
func (e *Emulator) DNSAddr() string {
	if !e.dataPlane {
		return ""
	}
	u, err := url.Parse(e.url)
	if err != nil {
		return ""
	}
	return "127.0.0.1:" + u.Port()
}

// DataPlaneState is GET /wtt-dataplane/state: the instances' processes and
// addresses, the load balancers and what their health checks see.
func (e *Emulator) DataPlaneState(tb testing.TB) map[string]any {
	tb.Helper()
	e.needDataPlane(tb)
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(e.url + "/wtt-dataplane/state")
	if err != nil {
		tb.Fatalf("emulatortest: data plane state: %v", err)
	}
	defer resp.Body.Close()
	var state map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&state); err != nil {
		tb.Fatalf("emulatortest: data plane state: %v", err)
	}
	return state
}

// KillAZ kills the time server of every instance in the Availability Zone
// without telling the EC2 API (the instances still say running): the AZ's
// hosts died. It returns the instance ids it killed.
func (e *Emulator) KillAZ(tb testing.TB, az string) []string {
	tb.Helper()
	return e.kill(tb, "az="+url.QueryEscape(az))
}

// KillInstance is KillAZ for one instance.
func (e *Emulator) KillInstance(tb testing.TB, instanceID string) []string {
	tb.Helper()
	return e.kill(tb, "instance="+url.QueryEscape(instanceID))
}

func (e *Emulator) kill(tb testing.TB, query string) []string {
	tb.Helper()
	e.needDataPlane(tb)
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Post(e.url+"/wtt-dataplane/kill?"+query, "text/plain", nil)
	if err != nil {
		tb.Fatalf("emulatortest: kill: %v", err)
	}
	defer resp.Body.Close()
	var out struct {
		Killed []string `json:"killed"`
		Error  string   `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("emulatortest: kill: HTTP %d %s %v", resp.StatusCode, out.Error, err)
	}
	return out.Killed
}

func (e *Emulator) needDataPlane(tb testing.TB) {
	tb.Helper()
	if !e.dataPlane {
		tb.Fatalf("emulatortest: the data plane is off; start the emulator with emulatortest.WithDataPlane()")
	}
}

// serverBinary is the time server the data plane runs: the one given, else
// WTT_SERVER_BINARY, else ./timeserver built now for this machine.
func serverBinary(tb testing.TB, root, given string) (string, error) {
	if given == "" {
		given = os.Getenv(ServerBinaryEnv)
	}
	if given != "" {
		if _, err := os.Stat(given); err != nil {
			return "", err
		}
		return filepath.Abs(given)
	}
	out := filepath.Join(tb.TempDir(), fmt.Sprintf("whatsthetime-%s-%s", runtime.GOOS, runtime.GOARCH))
	cmd := exec.Command("go", "build", "-o", out, "./timeserver")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./timeserver: %v\n%s", err, strings.TrimSpace(string(b)))
	}
	return out, nil
}
