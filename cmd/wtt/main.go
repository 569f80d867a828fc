// Command wtt walks the WhatsTheTime.com app up the AWS architecture ladder.
package main

import (
	"os"

	"github.com/whatsthetime/wtt/pkg/cli"
)

func main() { os.Exit(cli.Main()) }
