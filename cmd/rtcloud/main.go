// Command rtcloud runs every rtcloud component: `rtcloud dev` (all in one
// process with an embedded NATS), `rtcloud signal`, `rtcloud sfu`, and the
// `rtcloud token` tool.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/rtcloud/rtcloud/internal/version"
)

const usage = `rtcloud: an RTC cloud of SFU media nodes.

Usage:
  rtcloud dev      [flags]   everything in one process with an embedded NATS
  rtcloud signal   [flags]   signaling server (WebSocket, WHIP/WHEP)
  rtcloud sfu      [flags]   SFU media node
  rtcloud controller [flags] controller: placement, admin API, leader election
  rtcloud egress   [flags]   egress worker: recording, room composite, RTMP, HLS
  rtcloud ingress  [flags]   RTMP ingest gateway: encoders publish into rooms
  rtcloud sip      [flags]   SIP gateway: phones call into rooms
  rtcloud token    [flags]   print an access token
  rtcloud bench    [flags]   load generator: publishers, subscribers, figures
  rtcloud version            print the version (also: rtcloud --version)
  rtcloud help               this text

Run "rtcloud COMMAND -h" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "dev":
		err = withSignals(func(ctx context.Context) error { return runDev(ctx, rest, stdout, stderr) })
	case "signal":
		err = withSignals(func(ctx context.Context) error { return runSignal(ctx, rest, stderr) })
	case "sfu":
		err = withSignals(func(ctx context.Context) error { return runSFU(ctx, rest, stderr) })
	case "controller":
		err = withSignals(func(ctx context.Context) error { return runController(ctx, rest, stderr) })
	case "egress":
		err = withSignals(func(ctx context.Context) error { return runEgress(ctx, rest, stderr) })
	case "ingress":
		err = withSignals(func(ctx context.Context) error { return runIngress(ctx, rest, stderr) })
	case "sip":
		err = withSignals(func(ctx context.Context) error { return runSIP(ctx, rest, stderr) })
	case "token":
		err = runToken(rest, stdout, stderr)
	case "bench":
		err = withSignals(func(ctx context.Context) error { return runBench(ctx, rest, stdout, stderr) })
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "rtcloud", version.String())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "rtcloud: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintf(stderr, "rtcloud %s: %v\n", cmd, err)
		return 1
	}
}

// errUsage marks an error already reported by a flag set.
var errUsage = errors.New("usage")

// withSignals runs fn with a context cancelled on SIGINT or SIGTERM; a
// second signal exits at once.
func withSignals(fn func(ctx context.Context) error) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-sigs:
			cancel()
		case <-done:
			return
		}
		select {
		case <-sigs:
			fmt.Fprintln(os.Stderr, "rtcloud: second signal, exiting now")
			os.Exit(130)
		case <-done:
		}
	}()
	return fn(ctx)
}

func newLogger(level, format string, w io.Writer) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: l}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
