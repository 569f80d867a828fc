package faultproxy

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// savedAnswer is the target's answer to a request with a ClientToken.
type savedAnswer struct {
	status int
	header http.Header
	body   []byte
}

func (a *savedAnswer) write(w http.ResponseWriter) {
	for k, v := range a.header {
		w.Header()[k] = v
	}
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body)
}

// clientTokenKey is "Action ClientToken" for an EC2 query request that
// carries a ClientToken, else "". It reads the form body and puts it back.
func clientTokenKey(r *http.Request) string {
	if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		return ""
	}
	body, err := io.ReadAll(r.Body)
	r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return ""
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("ClientToken") == "" {
		return ""
	}
	return form.Get("Action") + " " + form.Get("ClientToken")
}

// savedAnswer returns the answer saved for key, counting the replay.
func (p *Proxy) savedAnswer(key string) *savedAnswer {
	if key == "" {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	a := p.answers[key]
	if a != nil {
		p.counts.Replayed++
	}
	return a
}

// saveAnswer keeps a successful answer for key and leaves resp readable.
func (p *Proxy) saveAnswer(key string, resp *http.Response) error {
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	p.mu.Lock()
	defer p.mu.Unlock()
	p.answers[key] = &savedAnswer{status: resp.StatusCode, header: resp.Header.Clone(), body: body}
	return nil
}
