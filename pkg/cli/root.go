// Package cli is wtt's command layer: cobra commands that parse and validate
// flags, then hand over to the ladder, plan and printers packages.
package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/whatsthetime/wtt/pkg/awsclient"
	"github.com/whatsthetime/wtt/pkg/cmdutil"
	"github.com/whatsthetime/wtt/pkg/iostreams"
	"github.com/whatsthetime/wtt/pkg/names"
	"github.com/whatsthetime/wtt/pkg/printers"
)

// Version is set at build time by the Makefile and goreleaser.
var (
	Version = "dev"
	Commit  = "none"
	Date    = "unknown"
)

// Globals are the flags every command shares, after config, environment and
// flags have been merged (in that order of precedence, lowest first).
type Globals struct {
	App         string
	Region      string
	Profile     string
	EndpointURL string
	Output      string
	Yes         bool
	NoColor     bool
	Debug       bool
	Timeout     time.Duration
	LockTimeout time.Duration
	ForceUnlock bool
}

// Factory carries the dependencies commands need, built lazily so that
// `wtt --help` and flag errors never touch AWS.
type Factory struct {
	IO      *iostreams.IOStreams
	V       *viper.Viper
	G       Globals
	clients *awsclient.Clients
}

// Clients loads AWS configuration once per process.
func (f *Factory) Clients(ctx context.Context) (*awsclient.Clients, error) {
	return f.loadClients(ctx, awsclient.Preflight)
}

// loadClients loads the clients once per process, checked by preflight
// (the STS preflight, or the call-free half a lease read completes).
func (f *Factory) loadClients(ctx context.Context, preflight func(context.Context, *awsclient.Clients, awsclient.Options) error) (*awsclient.Clients, error) {
	if f.clients != nil {
		return f.clients, nil
	}
	o := f.awsOptions()
	c, err := awsclient.Load(ctx, o)
	if err != nil {
		return nil, awsConfigError(err)
	}
	if err := preflight(ctx, c, o); err != nil {
		return nil, err
	}
	f.clients = c
	return c, nil
}

func (f *Factory) awsOptions() awsclient.Options {
	o := awsclient.Options{Region: f.G.Region, Profile: f.G.Profile, EndpointURL: f.G.EndpointURL}
	if f.G.Debug {
		o.Debug = f.IO.ErrOut
	}
	return o
}

// Main runs wtt with the process's arguments and returns the exit code.
func Main() int {
	f := &Factory{IO: iostreams.System(), V: viper.New()}
	root := NewRootCmd(f)
	err := root.Execute()
	if f.G.Debug && f.clients != nil {
		fmt.Fprintf(f.IO.ErrOut, "[debug] %s\n", f.clients.Recorder.Summary())
	}
	return handleError(f, err)
}

func handleError(f *Factory, err error) int {
	if err == nil {
		return 0
	}
	err = asUsageError(err)
	var ee *cmdutil.ExitError
	if !errors.As(err, &ee) {
		fmt.Fprintf(f.IO.ErrOut, "Error: %v\n", err)
	}
	return cmdutil.ExitCode(err)
}

// NewRootCmd builds the command tree.
func NewRootCmd(f *Factory) *cobra.Command {
	root := &cobra.Command{
		Use:   "wtt",
		Short: "Walk the WhatsTheTime.com app up the AWS architecture ladder",
		Long: `wtt takes a stateless web app on AWS through the classic architecture ladder,
one planned, inspectable, resumable step at a time:

  none -> single -> eip -> dns -> alb -> asg -> multi-az -> reserved

Every mutating command prints its plan first (steps, AWS calls, downtime,
monthly cost before and after) and takes --dry-run. wtt keeps no state file:
it finds the app's resources by their wtt:app tag and derives the stage.`,
		Example: `  wtt up                          # one t2.micro answering "what time is it?"
  wtt status -o json              # what exists, and the stage
  wtt plan --to=alb               # what moving behind a load balancer would do
  wtt migrate --to=eip --yes      # give the instance a fixed address
  wtt scale --vertical m5.large   # bigger instance (downtime said in the plan)
  wtt down --yes                  # delete everything tagged for the app`,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return f.resolveGlobals(cmd)
		},
	}
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return cmdutil.Usagef("see `"+cmd.CommandPath()+" --help`", "%v", err)
	})

	pf := root.PersistentFlags()
	pf.String("app", "whatsthetime", "app name: every resource is tagged wtt:app=<app> (env WTT_APP)")
	pf.String("region", "", "AWS region (default: AWS_REGION or the profile's region)")
	pf.String("profile", "", "AWS shared-config profile")
	pf.String("endpoint-url", "", "send AWS calls to this endpoint, e.g. the local emulator (also AWS_ENDPOINT_URL)")
	pf.StringP("output", "o", "table", "output format: table|wide|json|yaml")
	pf.BoolP("yes", "y", false, "do not ask for confirmation (required when not on a terminal for changes that cost money, delete or cause downtime)")
	pf.Bool("no-color", false, "disable colour (also NO_COLOR)")
	pf.Bool("debug", false, "trace every AWS call (operation, status, time; never credentials) and count retries")
	pf.Duration("timeout", 30*time.Minute, "give up on the whole command after this long")
	pf.Duration("lock-timeout", 0, "wait this long for another operator's lease instead of failing at once")
	pf.Bool("force-unlock", false, "break another operator's lease (only when you know it is gone)")
	pf.String("config", "", "config file (default ~/.config/wtt/config.yaml)")

	root.AddCommand(
		newUpCmd(f),
		newStatusCmd(f),
		newPlanCmd(f),
		newMigrateCmd(f),
		newScaleCmd(f),
		newDownCmd(f),
		newVersionCmd(f),
	)
	for _, extra := range extraCommands {
		root.AddCommand(extra(f))
	}
	registerCompletions(root, f)
	return root
}

// extraCommands lets commands living in their own files register
// themselves without this file listing every one.
var extraCommands []func(*Factory) *cobra.Command

// resolveGlobals merges config file < WTT_* environment < flags.
func (f *Factory) resolveGlobals(cmd *cobra.Command) error {
	v := f.V
	v.SetEnvPrefix("WTT")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_", ".", "_"))
	v.AutomaticEnv()
	cfgFile, _ := cmd.Flags().GetString("config")
	if cfgFile == "" {
		cfgFile = os.Getenv("WTT_CONFIG")
	}
	if cfgFile == "" {
		if dir, err := os.UserConfigDir(); err == nil {
			cfgFile = filepath.Join(dir, "wtt", "config.yaml")
		}
		if home, err := os.UserHomeDir(); err == nil && os.Getenv("XDG_CONFIG_HOME") == "" {
			cfgFile = filepath.Join(home, ".config", "wtt", "config.yaml")
		}
		if _, err := os.Stat(cfgFile); err != nil {
			cfgFile = ""
		}
	}
	if cfgFile != "" {
		v.SetConfigFile(cfgFile)
		if err := v.ReadInConfig(); err != nil {
			return cmdutil.Usagef("fix or remove the file", "reading config %s: %v", cfgFile, err)
		}
	}
	var bindErr error
	cmd.Flags().VisitAll(func(fl *pflag.Flag) {
		if err := v.BindPFlag(configKey(fl.Name), fl); err != nil {
			bindErr = err
		}
	})
	if bindErr != nil {
		return bindErr
	}
	f.G = Globals{
		App: v.GetString("app"), Region: v.GetString("region"), Profile: v.GetString("profile"),
		EndpointURL: v.GetString("endpoint-url"), Output: v.GetString("output"),
		Yes: v.GetBool("yes"), NoColor: v.GetBool("no-color") || os.Getenv("NO_COLOR") != "",
		Debug: v.GetBool("debug"), Timeout: v.GetDuration("timeout"),
		LockTimeout: v.GetDuration("lock-timeout"), ForceUnlock: v.GetBool("force-unlock"),
	}
	f.IO.NoColor = f.IO.NoColor || f.G.NoColor
	if err := names.ValidateApp(f.G.App); err != nil {
		return err
	}
	if err := printers.ValidateFormat(f.G.Output); err != nil {
		return err
	}
	if err := validateConnection(f.G.Region, f.G.EndpointURL); err != nil {
		return err
	}
	if f.G.Timeout <= 0 {
		return cmdutil.Usagef("pass a positive duration, e.g. --timeout 30m", "--timeout must be positive")
	}
	if f.G.LockTimeout < 0 {
		return cmdutil.Usagef("pass a duration such as --lock-timeout 5m", "--lock-timeout must not be negative")
	}
	return nil
}

// configKey maps a flag to its config-file key: --dns-name is dns.name,
// --instance-type is instance-type (env WTT_DNS_NAME, WTT_INSTANCE_TYPE).
func configKey(flag string) string {
	switch flag {
	case "dns-name":
		return "dns.name"
	case "ttl":
		return "dns.ttl"
	case "record-type":
		return "dns.record-type"
	}
	return flag
}
