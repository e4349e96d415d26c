// Command echo-bot joins a room and sends a participant's audio back to
// the room: the smallest media bot on the rtcloud Go SDK.
//
//	go run ./examples/go/echo-bot -url ws://localhost:7800/ws -room demo -from alice
//
// The token is minted from RTCLOUD_API_KEY and RTCLOUD_API_SECRET (the dev
// key of `rtcloud dev` by default), or given with -token.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"

	"github.com/pion/webrtc/v4"
	"github.com/rtcloud/rtcloud/pkg/client"
	"github.com/rtcloud/rtcloud/pkg/serverapi"
)

func main() {
	url := flag.String("url", "ws://localhost:7800/ws", "rtcloud WebSocket URL")
	room := flag.String("room", "demo", "room to join")
	from := flag.String("from", "", "identity whose audio to echo (default: the first that publishes audio)")
	token := flag.String("token", "", "access token (default: minted from RTCLOUD_API_KEY/RTCLOUD_API_SECRET)")
	duration := flag.Duration("duration", 0, "stop after this long (default: on Ctrl-C)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *duration > 0 {
		ctx, stop = context.WithTimeout(ctx, *duration)
		defer stop()
	}
	if err := run(ctx, *url, *room, *from, *token); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		log.Fatal(err)
	}
}

func run(ctx context.Context, url, room, from, token string) error {
	if token == "" {
		var err error
		token, err = serverapi.NewToken(env("RTCLOUD_API_KEY", "devkey"), env("RTCLOUD_API_SECRET", "secret"),
			serverapi.TokenOptions{Identity: "echo-bot", Name: "Echo", Room: room, Publish: true, Subscribe: true})
		if err != nil {
			return err
		}
	}
	c, err := client.Connect(ctx, url, token, client.Options{Name: "Echo"})
	if err != nil {
		return err
	}
	defer c.Close()
	log.Printf("joined %s as %s; waiting for audio", c.Room().Name, c.Self().Identity)

	// Wait for the audio track to echo and subscribe to it.
	tracks, err := c.WaitTracks(ctx, 1, func(t client.TrackInfo) bool {
		return t.Kind == client.KindAudio && t.SessionID != c.SessionID() && (from == "" || t.Identity == from)
	})
	if err != nil {
		return err
	}
	in, err := c.Subscribe(ctx, tracks[0].ID, client.LayerAuto)
	if err != nil {
		return err
	}

	// Publish a track the bot writes RTP packets to.
	out, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: client.CodecOpus, ClockRate: 48000, Channels: 2}, "echo", "echo")
	if err != nil {
		return err
	}
	if _, err := c.Publish(ctx, client.TrackSpec{Name: "echo", Source: client.SourceMicrophone, Local: []webrtc.TrackLocal{out}}); err != nil {
		return err
	}
	log.Printf("echoing the audio of %s", tracks[0].Identity)
	n := 0
	for {
		pkt, err := in.ReadRTP(ctx)
		if errors.Is(err, io.EOF) {
			log.Printf("the track ended after %d packets", n)
			return nil
		}
		if err != nil {
			return err
		}
		if err := out.WriteRTP(pkt); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		n++
	}
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
