package client_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4/pkg/media/h264writer"
	"github.com/pion/webrtc/v4/pkg/media/ivfwriter"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"
	"github.com/rtcloud/rtcloud/internal/testenv"
	"github.com/rtcloud/rtcloud/pkg/client"
)

// fixture encodes two seconds of test media with ffmpeg.
func fixture(t *testing.T, name string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg is not installed (scripts/test-deps.sh installs it)")
	}
	out := filepath.Join(t.TempDir(), name)
	full := append([]string{"-v", "error", "-y"}, args...)
	if b, err := exec.Command("ffmpeg", append(full, out)...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %s: %v\n%s", name, err, b)
	}
	return out
}

// decodes reports how many frames ffmpeg decodes from path.
func decodes(t *testing.T, path string) int {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "0",
		"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", path, err, out)
	}
	var n int
	for _, c := range strings.TrimSpace(string(out)) {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	return n
}

type rtpWriter interface {
	WriteRTP(*rtp.Packet) error
	Close() error
}

// A publisher streams a file with PublishReader, a subscriber reads the
// track with ReadRTP into a file of the same format, and ffmpeg decodes
// what arrived: each of IVF (VP8), Ogg (Opus) and H.264.
func TestPublishReaderAndReadRTPRoundTrip(t *testing.T) {
	sig := startCluster(t, 1)[0]
	src := "testsrc2=size=320x240:rate=30:duration=2"
	cases := []struct {
		format client.Format
		args   []string
		writer func(io.Writer) (rtpWriter, error)
		min    int // frames the copy must decode to, of 60 (video) or 100 (audio)
	}{
		{client.FormatIVF, []string{"-f", "lavfi", "-i", src, "-c:v", "libvpx", "-g", "10", "-b:v", "300k", "-f", "ivf"},
			func(w io.Writer) (rtpWriter, error) {
				return ivfwriter.NewWith(w, ivfwriter.WithCodec(client.CodecVP8))
			}, 15},
		{client.FormatOgg, []string{"-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-c:a", "libopus", "-f", "ogg"},
			func(w io.Writer) (rtpWriter, error) { return oggwriter.NewWith(w, 48000, 2) }, 25},
		{client.FormatH264, []string{"-f", "lavfi", "-i", src, "-c:v", "libx264", "-profile:v", "baseline", "-g", "10",
			"-pix_fmt", "yuv420p", "-bsf:v", "h264_mp4toannexb", "-f", "h264"},
			func(w io.Writer) (rtpWriter, error) { return h264writer.NewWith(w), nil }, 15},
	}
	for _, tc := range cases {
		t.Run(string(tc.format), func(t *testing.T) {
			in := fixture(t, "in."+string(tc.format), tc.args...)
			ctx := testenv.Context(t, 30*time.Second)
			pub := join(t, ctx, sig.WS, "pub-"+string(tc.format))
			sub := join(t, ctx, sig.WS, "sub-"+string(tc.format))
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			lt, err := pub.PublishReader(ctx, client.ReaderSpec{Format: tc.format, Reader: bytes.NewReader(data)})
			if err != nil {
				t.Fatalf("PublishReader: %v", err)
			}
			if err := pub.WaitPublished(ctx, lt); err != nil {
				t.Fatal(err)
			}
			if _, err := sub.WaitTracks(ctx, 1, func(ti client.TrackInfo) bool { return ti.ID == lt.ID() }); err != nil {
				t.Fatal(err)
			}
			rt, err := sub.Subscribe(ctx, lt.ID(), client.LayerAuto)
			if err != nil {
				t.Fatalf("subscribe: %v", err)
			}
			var out bytes.Buffer
			w, err := tc.writer(&out)
			if err != nil {
				t.Fatal(err)
			}
			go func() { // the stream's end ends the subscription
				<-lt.Done()
				time.Sleep(300 * time.Millisecond) // the last packets in flight
				_ = sub.Unsubscribe(context.Background(), rt)
			}()
			n := 0
			for {
				pkt, err := rt.ReadRTP(ctx)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("ReadRTP after %d packets: %v (stream: %v)", n, err, lt.Err())
				}
				n++
				_ = w.WriteRTP(pkt) // before the first keyframe the writers refuse packets
			}
			_ = w.Close()
			if lt.Err() != nil {
				t.Fatalf("stream ended with %v", lt.Err())
			}
			copyPath := filepath.Join(t.TempDir(), "copy."+string(tc.format))
			if err := os.WriteFile(copyPath, out.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			if got := decodes(t, copyPath); got < tc.min {
				t.Fatalf("the copy decodes to %d frames (%d packets read), want at least %d", got, n, tc.min)
			}
			if rt.Stats().ReadDrops != 0 {
				t.Errorf("%d packets dropped before ReadRTP", rt.Stats().ReadDrops)
			}
		})
	}
}

// Streams of the wrong format fail in PublishReader, before publishing.
func TestPublishReaderRejectsBadStreams(t *testing.T) {
	sig := startCluster(t, 1)[0]
	ctx := testenv.Context(t, 10*time.Second)
	c := join(t, ctx, sig.WS, "bad")
	for _, f := range []client.Format{client.FormatIVF, client.FormatOgg} {
		_, err := c.PublishReader(ctx, client.ReaderSpec{Format: f, Reader: strings.NewReader(strings.Repeat("not media ", 10))})
		if !errors.Is(err, client.ErrBadMedia) {
			t.Errorf("%s: err = %v, want ErrBadMedia", f, err)
		}
	}
	if _, err := c.PublishReader(ctx, client.ReaderSpec{Format: "mp4", Reader: strings.NewReader("")}); !errors.Is(err, client.ErrBadSpec) {
		t.Errorf("mp4: err = %v, want ErrBadSpec", err)
	}
	if len(c.LocalTracks()) != 0 {
		t.Errorf("%d tracks published", len(c.LocalTracks()))
	}
}

// A SampleReader turns the packets of a VP8 and an Opus track back into
// frames of the right durations.
func TestSampleReader(t *testing.T) {
	sig := startCluster(t, 1)[0]
	ivf := fixture(t, "in.ivf", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=2", "-c:v", "libvpx", "-g", "10", "-f", "ivf")
	ogg := fixture(t, "in.ogg", "-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-c:a", "libopus", "-f", "ogg")
	ctx := testenv.Context(t, 30*time.Second)
	pub := join(t, ctx, sig.WS, "pub")
	sub := join(t, ctx, sig.WS, "sub")
	for _, in := range []struct {
		path   string
		format client.Format
		frame  time.Duration
	}{{ivf, client.FormatIVF, time.Second / 30}, {ogg, client.FormatOgg, 20 * time.Millisecond}} {
		data, err := os.ReadFile(in.path)
		if err != nil {
			t.Fatal(err)
		}
		lt, err := pub.PublishReader(ctx, client.ReaderSpec{Format: in.format, Reader: bytes.NewReader(data)})
		if err != nil {
			t.Fatal(err)
		}
		if err := pub.WaitPublished(ctx, lt); err != nil {
			t.Fatal(err)
		}
		if _, err := sub.WaitTracks(ctx, 1, func(ti client.TrackInfo) bool { return ti.ID == lt.ID() }); err != nil {
			t.Fatal(err)
		}
		rt, err := sub.Subscribe(ctx, lt.ID(), client.LayerAuto)
		if err != nil {
			t.Fatal(err)
		}
		r := client.NewSampleReader(rt)
		var n int
		var keyframes int
		for n < 20 {
			s, err := r.Read(ctx)
			if err != nil {
				t.Fatalf("%s: sample %d: %v", in.format, n, err)
			}
			if s.Duration < in.frame/2 || s.Duration > 2*in.frame || len(s.Data) == 0 {
				t.Fatalf("%s: sample %d lasts %v with %d bytes, want about %v", in.format, n, s.Duration, len(s.Data), in.frame)
			}
			if in.format == client.FormatIVF && s.Data[0]&1 == 0 {
				keyframes++
			}
			n++
		}
		if in.format == client.FormatIVF && keyframes == 0 {
			t.Errorf("no VP8 keyframe among %d frames (one every 10 was sent)", n)
		}
	}
}

// Unpublish ends a track for the room and stops its stream.
func TestUnpublish(t *testing.T) {
	sig := startCluster(t, 1)[0]
	ctx := testenv.Context(t, 20*time.Second)
	pub := join(t, ctx, sig.WS, "pub")
	sub := join(t, ctx, sig.WS, "sub")
	lts, err := pub.Publish(ctx, client.TrackSpec{Codec: client.CodecOpus}, client.TrackSpec{Codec: client.CodecVP8})
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.WaitPublished(ctx, lts...); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.WaitTracks(ctx, 2, func(ti client.TrackInfo) bool { return ti.Identity == "pub" }); err != nil {
		t.Fatal(err)
	}
	if err := pub.Unpublish(ctx, lts[0]); err != nil {
		t.Fatalf("Unpublish: %v", err)
	}
	err = sub.WaitUntil(ctx, func() bool {
		ts := sub.Tracks()
		return len(ts) == 1 && ts[0].ID == lts[1].ID()
	})
	if err != nil {
		t.Fatalf("the subscriber still sees %+v: %v", sub.Tracks(), err)
	}
	if got := pub.LocalTracks(); len(got) != 1 || got[0] != lts[1] {
		t.Fatalf("LocalTracks after Unpublish: %d", len(got))
	}
}
