package ladder

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/whatsthetime/wtt/pkg/awsclient"
)

// putRecorder is an S3 that keeps the one PutObject it is sent.
type putRecorder struct {
	header http.Header
	body   []byte
}

func (p *putRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPut {
		http.Error(w, "only PutObject here", http.StatusBadRequest)
		return
	}
	p.header = r.Header.Clone()
	p.body, _ = io.ReadAll(r.Body)
}

func uploadTo(t *testing.T, art artifact) *putRecorder {
	t.Helper()
	rec := &putRecorder{}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	cfg := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
		Credentials: aws.CredentialsProviderFunc(func(ctx context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "secret"}, nil
		})}
	e := &Env{C: &awsclient.Clients{Config: cfg, S3: s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })}}
	if err := e.upload(context.Background(), "bucket", art); err != nil {
		t.Fatal(err)
	}
	return rec
}

// The upload carries the binary's SHA-256 as S3's checksum (S3 refuses a
// body that does not match) and signs with it, and the body arrives whole.
func TestUploadSendsTheKnownSHA256(t *testing.T) {
	content := []byte(strings.Repeat("time server ", 100_000))
	path := filepath.Join(t.TempDir(), "whatsthetime")
	if err := os.WriteFile(path, content, 0o755); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(content)
	rec := uploadTo(t, artifact{path: path, key: "timeserver/x/whatsthetime", sha: hex.EncodeToString(sum[:])})
	if string(rec.body) != string(content) {
		t.Fatalf("S3 got %d bytes, want the file's %d", len(rec.body), len(content))
	}
	if got, want := rec.header.Get("X-Amz-Checksum-Sha256"), base64.StdEncoding.EncodeToString(sum[:]); got != want {
		t.Errorf("x-amz-checksum-sha256 = %q, want %q", got, want)
	}
	if got := rec.header.Get("X-Amz-Content-Sha256"); got != hex.EncodeToString(sum[:]) {
		t.Errorf("signed payload hash = %q, want the file's", got)
	}
	for name := range rec.header {
		if n := strings.ToLower(name); strings.HasPrefix(n, "x-amz-checksum-") && n != "x-amz-checksum-sha256" {
			t.Errorf("a second checksum was computed and sent: %s", name)
		}
	}
}

// Neither hash is computed from the body: told another SHA-256, the SDK
// sends and signs with that one (S3 would then refuse the upload, as it
// should a binary that changed since it was named).
func TestUploadDoesNotHashTheBodyAgain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "whatsthetime")
	if err := os.WriteFile(path, []byte("the real bytes"), 0o755); err != nil {
		t.Fatal(err)
	}
	told := sha256.Sum256([]byte("other bytes"))
	rec := uploadTo(t, artifact{path: path, key: "k", sha: hex.EncodeToString(told[:])})
	if got := rec.header.Get("X-Amz-Content-Sha256"); got != hex.EncodeToString(told[:]) {
		t.Errorf("signed payload hash = %q: the SDK hashed the body itself", got)
	}
	if got := rec.header.Get("X-Amz-Checksum-Sha256"); got != base64.StdEncoding.EncodeToString(told[:]) {
		t.Errorf("checksum = %q: the SDK computed its own", got)
	}
}

func TestUploadRefusesABrokenSHA256(t *testing.T) {
	e := &Env{}
	if err := e.upload(context.Background(), "bucket", artifact{path: "/nonexistent", sha: "not-hex"}); err == nil || !strings.Contains(err.Error(), "SHA-256") {
		t.Errorf("err = %v, want one naming the SHA-256", err)
	}
}
