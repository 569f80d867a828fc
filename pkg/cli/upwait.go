package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/whatsthetime/wtt/pkg/cmdutil"
	"github.com/whatsthetime/wtt/pkg/ladder"
	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/probe"
)

// `up --wait` (and `scale --wait`) waits, once the instances run, until the
// time server on them answers over HTTP: the EC2 API says "running" seconds
// to minutes before the boot script has installed and started the server,
// and a scale-out at single or eip leaves an instance a later
// `migrate --to=dns` would publish before it answers. It is opt-in
// (kubectl's --wait): an emulator without its data plane never answers.

// defaultUpWait is --wait's timeout when no value is given: a fresh
// instance boots, fetches the server and starts it in a minute or two.
const defaultUpWait = 5 * time.Minute

// healthPath is what the time server answers once it serves.
const healthPath = "/healthz"

// upWaitPoll is how often the entry point is asked again.
const upWaitPoll = time.Second

func addUpWaitFlag(cmd *cobra.Command, wait *time.Duration) {
	cmd.Flags().DurationVar(wait, "wait", 0, "afterwards, wait until the time server answers GET "+healthPath+" on every instance's public address (or the app's name), for at most this long (a bare --wait: "+defaultUpWait.String()+"; write --wait=2m)")
	cmd.Flags().Lookup("wait").NoOptDefVal = defaultUpWait.String()
}

// validateUpWait checks --wait before AWS is touched.
func validateUpWait(cmd *cobra.Command, wait time.Duration, dr DryRun) error {
	if !cmd.Flags().Changed("wait") {
		return nil
	}
	if wait <= 0 || wait > time.Hour {
		return cmdutil.Usagef("pass a timeout such as --wait=2m (at most 1h), or a bare --wait for "+defaultUpWait.String(), "--wait=%s is out of range", wait)
	}
	if dr != DryRunNone {
		return cmdutil.Usagef("drop --dry-run to make the change and wait for the app, or drop --wait to only see the plan", "--wait waits for the app to answer; a dry run changes nothing")
	}
	return nil
}

// waitURLs are what must answer: every live instance's public address (a
// client may be given any of them), else the app's name.
func waitURLs(s *observe.State) []string {
	var urls []string
	for _, a := range probe.PublicAddresses(s) {
		urls = append(urls, "http://"+a.String()+healthPath)
	}
	if len(urls) > 0 {
		return urls
	}
	if t, err := probe.EntryPoint(s); err == nil && t.Name != "" {
		return []string{"http://" + t.Name + healthPath}
	}
	return nil
}

// waitAnswering polls the app's entry point until every URL answers 2xx
// or the timeout passes. Progress goes to stderr.
func (f *Factory) waitAnswering(ctx context.Context, e *ladder.Env, timeout time.Duration) error {
	urls := waitURLs(e.State)
	if len(urls) == 0 {
		return fmt.Errorf("--wait: the app has no public entry point to wait for (no running instance with a public address, no load balancer); `wtt status` shows what exists")
	}
	client := &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
	}
	start := time.Now()
	deadline := start.Add(timeout)
	fmt.Fprintf(f.IO.ErrOut, "Waiting up to %s for the time server to answer at %s\n", timeout, strings.Join(urls, ", "))
	waiter := f.IO.StartWait("waiting for " + strings.Join(urls, ", "))
	var once sync.Once
	stop := func() { once.Do(waiter.Stop) }
	defer stop()
	pending := map[string]string{} // URL -> what its last attempt got
	for _, u := range urls {
		pending[u] = "not asked yet"
	}
	for {
		for _, u := range urls {
			if _, ok := pending[u]; !ok {
				continue
			}
			if why := ask(ctx, client, u); why == "" {
				delete(pending, u)
			} else {
				pending[u] = why
			}
		}
		if len(pending) == 0 {
			stop()
			fmt.Fprintf(f.IO.ErrOut, "The time server answers (after %s).\n", time.Since(start).Round(100*time.Millisecond))
			return nil
		}
		if time.Now().Add(upWaitPoll).After(deadline) {
			stop()
			return upWaitTimeout(e.State, timeout, pending)
		}
		select {
		case <-ctx.Done():
			stop()
			return fmt.Errorf("stopped waiting for the time server: %w", ctx.Err())
		case <-time.After(upWaitPoll):
		}
	}
}

// ask sends one GET and says what went wrong, or "" for a 2xx.
func ask(ctx context.Context, c *http.Client, url string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err.Error()
	}
	resp, err := c.Do(req)
	if err != nil {
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) && ue.Unwrap() != nil {
			err = ue.Unwrap()
		}
		return err.Error()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return resp.Status
	}
	return ""
}

// upWaitTimeout says what did not answer and what to check.
func upWaitTimeout(s *observe.State, timeout time.Duration, pending map[string]string) error {
	var parts []string
	for u, why := range pending {
		parts = append(parts, u+" ("+why+")")
	}
	var ids []string
	for _, i := range s.LiveInstances() {
		ids = append(ids, i.ID)
	}
	return fmt.Errorf("the time server did not answer within %s: %s.\n"+
		"  check: `wtt status` (is the instance running, with a public address?); `wtt review` (does its security group admit tcp/80?); "+
		"the boot log (`aws ec2 get-console-output --instance-id %s`: did the boot script fetch and start the server?); "+
		"against the emulator, its data plane must be on (docs/emulator.md)",
		timeout, strings.Join(parts, ", "), strings.Join(ids, " "))
}
