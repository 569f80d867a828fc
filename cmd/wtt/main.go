// Command wtt walks the WhatsTheTime.com app up the AWS architecture ladder.
package main

import (
	"os"
	"runtime/debug"

	"github.com/whatsthetime/wtt/pkg/cli"
)

// gcPercent is the garbage collector's target unless GOGC says otherwise.
// A wtt run lasts seconds, keeps a few megabytes live and turns most of
// what it allocates (decoded AWS answers) into garbage at once: collecting
// at 5x the live heap instead of 2x costs a few megabytes of memory and
// saves about a seventh of its CPU (bench/ladder.sh, docs/performance.md).
const gcPercent = 400

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	os.Exit(cli.Main())
}
