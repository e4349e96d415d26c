// Command save-track joins a room and records one track to a file: VP8
// video to IVF, Opus audio to Ogg, H.264 video to an Annex B .h264 file.
//
//	go run ./examples/go/save-track -url ws://localhost:7800/ws -room demo -kind video -out cam.ivf -duration 10s
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
	"strings"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4/pkg/media/h264writer"
	"github.com/pion/webrtc/v4/pkg/media/ivfwriter"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"
	"github.com/rtcloud/rtcloud/pkg/client"
	"github.com/rtcloud/rtcloud/pkg/serverapi"
)

type writer interface {
	WriteRTP(*rtp.Packet) error
	Close() error
}

func main() {
	url := flag.String("url", "ws://localhost:7800/ws", "rtcloud WebSocket URL")
	room := flag.String("room", "demo", "room to join")
	kind := flag.String("kind", "video", "audio or video: record the first such track")
	from := flag.String("from", "", "only a track of this identity")
	out := flag.String("out", "track.ivf", "output file: .ivf (VP8), .ogg (Opus) or .h264")
	token := flag.String("token", "", "access token (default: minted from RTCLOUD_API_KEY/RTCLOUD_API_SECRET)")
	duration := flag.Duration("duration", 0, "stop after this long (default: on Ctrl-C or when the track ends)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *duration > 0 {
		ctx, stop = context.WithTimeout(ctx, *duration)
		defer stop()
	}
	if err := run(ctx, *url, *room, *kind, *from, *out, *token); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, url, room, kind, from, out, token string) error {
	if token == "" {
		var err error
		token, err = serverapi.NewToken(env("RTCLOUD_API_KEY", "devkey"), env("RTCLOUD_API_SECRET", "secret"),
			serverapi.TokenOptions{Identity: "recorder", Room: room, Subscribe: true})
		if err != nil {
			return err
		}
	}
	c, err := client.Connect(ctx, url, token, client.Options{Name: "Recorder"})
	if err != nil {
		return err
	}
	defer c.Close()
	tracks, err := c.WaitTracks(ctx, 1, func(t client.TrackInfo) bool {
		return t.Kind == kind && (from == "" || t.Identity == from)
	})
	if err != nil {
		return fmt.Errorf("waiting for a %s track: %w", kind, err)
	}
	t, err := c.Subscribe(ctx, tracks[0].ID, client.LayerHigh)
	if err != nil {
		return err
	}
	w, err := newWriter(out, tracks[0].MimeType)
	if err != nil {
		return err
	}
	log.Printf("recording %s of %s (%s) to %s", tracks[0].ID, tracks[0].Identity, tracks[0].MimeType, out)
	n := 0
	for {
		pkt, err := t.ReadRTP(ctx)
		if errors.Is(err, io.EOF) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			break
		}
		if err != nil {
			_ = w.Close()
			return err
		}
		if n == 0 {
			_ = t.RequestKeyframe() // a decodable start
		}
		n++
		_ = w.WriteRTP(pkt) // packets before the first keyframe are refused
	}
	log.Printf("%d packets written", n)
	return w.Close()
}

func newWriter(path, mime string) (writer, error) {
	mime = strings.ToLower(mime)
	switch {
	case strings.HasSuffix(path, ".ivf") && mime == strings.ToLower(client.CodecVP8):
		return ivfwriter.New(path, ivfwriter.WithCodec(client.CodecVP8))
	case strings.HasSuffix(path, ".ogg") && mime == strings.ToLower(client.CodecOpus):
		return oggwriter.New(path, 48000, 2)
	case strings.HasSuffix(path, ".h264") && mime == strings.ToLower(client.CodecH264):
		return h264writer.New(path)
	}
	return nil, fmt.Errorf("cannot write %s to %s: use .ivf for VP8, .ogg for Opus, .h264 for H.264", mime, path)
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
