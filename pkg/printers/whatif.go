package printers

import (
	"fmt"
	"io"

	"github.com/whatsthetime/wtt/pkg/whatif"
)

// PrintWhatIf renders what users would see if something failed.
func PrintWhatIf(w io.Writer, format, app string, o whatif.Outcome) error {
	if ok, err := Structured(w, format, o); ok {
		return err
	}
	outage := "no"
	if o.Outage {
		outage = "yes: no user gets an answer"
	}
	fmt.Fprintf(w, "If app %s (stage %s) loses %s:\n\n", app, o.Stage, o.Scenario)
	fmt.Fprintf(w, "  Outage:            %s\n", outage)
	fmt.Fprintf(w, "  Failures last:     %s\n", failureSeconds(o.OutageSeconds))
	fmt.Fprintf(w, "  Capacity left:     %d%%\n", o.CapacityLeftPercent)
	switch {
	case o.ReplacedSeconds == whatif.UntilSomeoneActs:
		fmt.Fprintf(w, "  Capacity back:     when someone replaces it\n")
	case o.ReplacedSeconds > 0:
		fmt.Fprintf(w, "  Capacity back:     after about %d s (the Auto Scaling group replaces it)\n", o.ReplacedSeconds)
	}
	fmt.Fprintf(w, "  Failing requests:  %s\n", o.FailingRequests)
	fmt.Fprintf(w, "  Fixed by:          %s\n", o.FixedBy)
	if len(o.Assumptions) > 0 {
		fmt.Fprintln(w, "\n  From AWS, and assumed:")
		for _, a := range o.Assumptions {
			fmt.Fprintf(w, "    - %s\n", a)
		}
	}
	return nil
}

func failureSeconds(s int64) string {
	switch {
	case s == whatif.UntilSomeoneActs:
		return "until someone acts"
	case s == 0:
		return "none"
	}
	return fmt.Sprintf("up to %d s", s)
}
