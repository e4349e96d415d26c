package main

import (
	"context"
	"flag"
	"io"
	"log/slog"

	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/config"
)

// gateway is a started gateway server (ingress, sip).
type gateway interface{ Run(context.Context) error }

// runGateway is the command of a gateway: the common flags plus the
// gateway's own (register, then apply onto the config), a bus connection,
// then start and Run until ctx ends.
func runGateway(ctx context.Context, name string, args []string, stderr io.Writer,
	register func(*flag.FlagSet), apply func(*config.Config),
	start func(context.Context, config.Config, *bus.Client, *slog.Logger) (gateway, error)) error {
	fs := flag.NewFlagSet("rtcloud "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f commonFlags
	f.register(fs, false, false)
	register(fs)
	c, err := f.parse(fs, args)
	if err != nil {
		return err
	}
	apply(&c)
	if err := c.Validate(); err != nil {
		return err
	}
	if err := c.ValidateKeys(); err != nil {
		return err
	}
	b, log, err := connect(c, "rtcloud-"+name, stderr)
	if err != nil {
		return err
	}
	defer b.Close()
	logKeys(log, c)
	srv, err := start(ctx, c, b, log)
	if err != nil {
		return err
	}
	return srv.Run(ctx)
}
