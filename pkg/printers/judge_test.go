package printers

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/whatsthetime/wtt/pkg/bill"
	"github.com/whatsthetime/wtt/pkg/review"
	fx "github.com/whatsthetime/wtt/pkg/statefixtures"
	"github.com/whatsthetime/wtt/pkg/whatif"
)

func TestPrintReview(t *testing.T) {
	var b bytes.Buffer
	if err := PrintReview(&b, "table", review.Review(fx.Single())); err != nil {
		t.Fatal(err)
	}
	golden(t, "review_single.txt", b.Bytes())
	b.Reset()
	if err := PrintReview(&b, "table", review.Review(fx.Reserved()).Only(review.Security)); err != nil {
		t.Fatal(err)
	}
	golden(t, "review_reserved_security.txt", b.Bytes())
}

func TestPrintWhatIf(t *testing.T) {
	sc, _ := whatif.Parse("instance")
	o, err := whatif.WhatIf(fx.DNS(3, 3600), sc)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := PrintWhatIf(&b, "table", "app", o); err != nil {
		t.Fatal(err)
	}
	golden(t, "whatif_dns.txt", b.Bytes())
	b.Reset()
	if err := PrintWhatIf(&b, "json", "app", o); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"scenario", "stage", "outage", "outageSeconds", "capacityLeftPercent", "failingRequests", "fixedBy", "assumptions", "healthCheckSeconds", "replacedSeconds"} {
		if _, ok := m[k]; !ok {
			t.Errorf("what-if JSON lacks %q", k)
		}
	}
	if len(m) != 10 {
		t.Errorf("what-if JSON has %d keys, want the 10 of the contract: %v", len(m), m)
	}
}

func TestPrintBill(t *testing.T) {
	var b bytes.Buffer
	if err := PrintBill(&b, "wide", bill.Of(fx.Reserved())); err != nil {
		t.Fatal(err)
	}
	golden(t, "bill_reserved.txt", b.Bytes())
}
