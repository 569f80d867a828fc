package printers

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/whatsthetime/wtt/pkg/bill"
)

// PrintBill renders the itemised monthly bill; -o wide adds the resources
// each line bills.
func PrintBill(w io.Writer, format string, b bill.Bill) error {
	if ok, err := Structured(w, format, b); ok {
		return err
	}
	fmt.Fprintf(w, "App:     %s (stage %s) in %s, estimated monthly bill\n\n", b.App, b.Stage, b.Region)
	header := []string{"ITEM", "QUANTITY", "UNIT PRICE", "MONTHLY", "NOTE"}
	if format == "wide" {
		header = append(header, "RESOURCES")
	}
	var rows [][]string
	for _, l := range b.Lines {
		qty := "-"
		if l.Quantity > 0 {
			qty = strconv.FormatFloat(l.Quantity, 'f', -1, 64) + " " + l.Unit
		}
		price := "-"
		if l.UnitPrice > 0 {
			price = "$" + strconv.FormatFloat(l.UnitPrice, 'f', -1, 64)
		}
		r := []string{l.Item, qty, price, usd(l.Monthly), dash(l.Note)}
		if format == "wide" {
			r = append(r, dash(strings.Join(l.Resources, ", ")))
		}
		rows = append(rows, r)
	}
	if len(rows) > 0 {
		if err := table(w, header, rows); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "Total:   %s/month (wtt status shows %s)\n", usd(b.Monthly), usd(b.StatusMonthly))
	for _, n := range b.Notes {
		fmt.Fprintf(w, "  ! %s\n", n)
	}
	fmt.Fprintf(w, "Prices:  %s, as published in %s\n", b.PriceSource, b.PriceDate)
	return nil
}
