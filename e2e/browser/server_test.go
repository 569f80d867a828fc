package browser

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/whatsthetime/wtt/pkg/emulatortest"
)

// timeServer is the real time server binary, running on a loopback port.
type timeServer struct {
	url string
}

// startTimeServer builds ./timeserver and runs it on a free 127.0.0.1 port
// with the metadata lookup off (not on EC2), until the test ends.
func startTimeServer(t *testing.T) *timeServer {
	t.Helper()
	root, err := emulatortest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "timeserver")
	build := exec.Command("go", "build", "-o", bin, "./timeserver")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./timeserver: %v\n%s", err, out)
	}

	// A port free when picked can be taken before the server binds it, so a
	// server that exits early is started again on another port.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		var logs syncBuffer
		cmd := exec.Command(bin, "--addr", addr, "--imds-endpoint", "off", "--shutdown-timeout", "2s")
		cmd.Stdout = &logs
		cmd.Stderr = &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		stop := func() {
			cmd.Process.Signal(os.Interrupt)
			select {
			case <-exited:
			case <-time.After(5 * time.Second):
				cmd.Process.Kill()
				<-exited
			}
		}
		url := "http://" + addr
		if err := waitHealthy(url, exited, 20*time.Second); err != nil {
			stop()
			lastErr = fmt.Errorf("%v; server output:\n%s", err, logs.String())
			continue
		}
		t.Cleanup(func() {
			stop()
			if t.Failed() {
				t.Logf("time server output:\n%s", logs.String())
			}
		})
		return &timeServer{url: url}
	}
	t.Fatalf("time server did not start: %v", lastErr)
	return nil
}

func waitHealthy(url string, exited <-chan struct{}, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-exited:
			return fmt.Errorf("time server exited")
		default:
		}
		if resp, err := client.Get(url + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer from %s/healthz within %s", url, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// apiTime is the part of GET /api/time the page is compared with.
type apiTime struct {
	Time         string `json:"time"`
	Zone         string `json:"zone"`
	Abbreviation string `json:"abbreviation"`
	Offset       string `json:"offset"`
	UnixMillis   int64  `json:"unixMillis"`
}

func (s *timeServer) apiTime(ctx context.Context, zone string) (apiTime, error) {
	var a apiTime
	err := getJSON(ctx, s.url+"/api/time?tz="+zone, &a)
	return a, err
}
