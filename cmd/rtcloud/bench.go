package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bench"
	"github.com/rtcloud/rtcloud/internal/config"
	"github.com/rtcloud/rtcloud/pkg/client"
)

// runBench runs the load generator against a running deployment.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rtcloud bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o bench.Options
	fs.StringVar(&o.URL, "url", "ws://127.0.0.1:7800", "signaling server WebSocket URL")
	fs.StringVar(&o.MetricsURL, "metrics-url", "", "the SFU node's /metrics (default: /metrics of --url; - for none)")
	fs.StringVar(&o.Key, "key", "", "API key (default: RTCLOUD_API_KEY, else the public dev key)")
	fs.StringVar(&o.Secret, "secret", "", "API secret (default: the key's secret from the environment)")
	fs.StringVar(&o.Namespace, "namespace", auth.DefaultNamespace, "namespace of the rooms")
	fs.StringVar(&o.RoomPrefix, "room-prefix", "", "room name prefix (default: bench-<time>)")
	fs.IntVar(&o.Rooms, "rooms", 1, "rooms")
	fs.IntVar(&o.Publishers, "publishers", 1, "publishers per room")
	fs.IntVar(&o.Subscribers, "subscribers", 10, "subscribers per room (each receives every track of its room)")
	fs.IntVar(&o.VideoKbps, "video-kbps", 1000, "video bitrate per publisher (the top layer with --simulcast)")
	codec := fs.String("codec", "vp8", "video codec: vp8 or h264")
	fs.BoolVar(&o.Simulcast, "simulcast", false, "publish three simulcast layers")
	fs.BoolVar(&o.AudioOnly, "audio-only", false, "publish audio only")
	fs.DurationVar(&o.Duration, "duration", 30*time.Second, "measured window, after every subscriber joined")
	fs.DurationVar(&o.Settle, "settle", 2*time.Second, "pause between the last join and the measured window")
	rate := fs.String("join-rate", "50/s", "subscriber joins started per second")
	subURLs := fs.String("subscriber-urls", "", "spread the subscribers over these signaling WebSocket URLs, comma-separated (publishers use --url)")
	subIPs := fs.String("subscriber-ips", "", "spread the subscribers over these client addresses, sent as X-Forwarded-For, comma-separated (e.g. 10.1.0.1,10.2.0.1,10.3.0.1 for the regions of rtcloud dev --nodes 3)")
	asJSON := fs.Bool("json", false, "print one JSON object instead of the table")
	jsonOut := fs.String("json-out", "", "also write the JSON report to this file")
	label := fs.String("label", "", "label of the run in the report")
	compare := fs.String("compare", "", "a previous --json report to show ratios against")
	from := fs.String("from", "", "with --compare: compare this --json report instead of running")
	quiet := fs.Bool("quiet", false, "no progress line")
	atWindow := fs.String("at-window", "", "a shell command run when the measured window starts (e.g. 'kill -9 PID' to measure the media gap a failure causes)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var err error
	if o.Key, o.Secret, err = tokenCredentials("", o.Key, o.Secret); err != nil {
		return err
	}
	o.SubscriberURLs, o.SubscriberIPs = config.SplitList(*subURLs), config.SplitList(*subIPs)
	if o.JoinRate, err = bench.ParseRate(*rate); err != nil {
		return err
	}
	switch strings.ToLower(*codec) {
	case "vp8":
		o.Codec = client.CodecVP8
	case "h264":
		o.Codec = client.CodecH264
	default:
		return fmt.Errorf("--codec %q: want vp8 or h264", *codec)
	}
	var base *bench.Report
	if *compare != "" {
		if base, err = readReport(*compare); err != nil {
			return err
		}
	}
	if *from != "" {
		if base == nil {
			return fmt.Errorf("--from needs --compare")
		}
		rep, err := readReport(*from)
		if err != nil {
			return err
		}
		rep.WriteComparison(stdout, base)
		return nil
	}
	if !*quiet {
		o.Progress = func(line string) { fmt.Fprintf(stderr, "\r%s   ", line) }
	}
	if *atWindow != "" {
		o.DuringWindow = func(ctx context.Context) {
			cmd := exec.CommandContext(ctx, "sh", "-c", *atWindow)
			cmd.Stdout, cmd.Stderr = stderr, stderr
			if err := cmd.Run(); err != nil {
				fmt.Fprintf(stderr, "rtcloud bench: --at-window: %v\n", err)
			}
		}
	}
	rep, err := bench.Run(ctx, o)
	if !*quiet {
		fmt.Fprintln(stderr)
	}
	if err != nil {
		return err
	}
	rep.Label = *label
	if *jsonOut != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		return enc.Encode(rep)
	}
	rep.WriteTable(stdout)
	if base != nil {
		fmt.Fprintln(stdout)
		rep.WriteComparison(stdout, base)
	}
	return nil
}

func readReport(path string) (*bench.Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r bench.Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}
