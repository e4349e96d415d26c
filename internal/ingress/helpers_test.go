package ingress

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/config"
	"github.com/rtcloud/rtcloud/internal/testenv"
	"github.com/rtcloud/rtcloud/internal/teststack"
	"github.com/rtcloud/rtcloud/internal/transcode"
	"github.com/rtcloud/rtcloud/pkg/client"
)

func needFFmpeg(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("ffmpeg not installed (scripts/test-deps.sh installs it)")
	}
	return p
}

// media restricts PeerConnections to loopback and accepts the H.264 High
// profile libx264 sends.
func media() client.MediaOptions {
	return client.MediaOptions{IPFilter: client.LoopbackOnly, Logger: testenv.Logger(), ExtraCodecs: []webrtc.RTPCodecParameters{{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine:  "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640c1f",
			RTCPFeedback: []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}}},
		PayloadType: 106}}}
}

// gateway is a stack with an ingress server in front of it.
type gateway struct {
	stack *teststack.Stack
	srv   *Server
	logs  *testenv.LogBuffer
	keys  *Keys
	bus   *bus.Client
	size  string // of the published test pattern; default 320x240
	opts  Options
}

func startGateway(t *testing.T, edit ...func(*config.Ingress)) *gateway {
	t.Helper()
	ff := needFFmpeg(t)
	st := teststack.Start(t, teststack.Options{})
	logs := &testenv.LogBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	b := testenv.Connect(t, st.NATS.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	keys, err := OpenKeys(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	c := config.Default()
	c.DevKeys = true // testenv mints with the dev key
	c.Ingress.RTMPAddr = "127.0.0.1:0"
	c.Ingress.SignalURL = st.Signals[0].WS
	c.Ingress.FFmpeg = ff
	for _, e := range edit {
		e(&c.Ingress)
	}
	key, secret := c.SigningKey("")
	opts := Options{Config: c.Ingress, Verifier: auth.NewVerifier(c.APIKeys()), SigningKey: key, SigningSecret: secret,
		Keys: keys, Media: media(), Logger: log}
	g := &gateway{stack: st, logs: logs, keys: keys, bus: b, opts: opts}
	g.srv = g.run(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("ingress log:\n%s", logs.Tail(40))
		}
	})
	return g
}

// run starts one more ingress server with the gateway's options (a
// second gateway on the same bus) until the test ends.
func (g *gateway) run(t *testing.T) *Server {
	t.Helper()
	srv, err := Listen(g.opts)
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Run(rctx)
	}()
	t.Cleanup(func() {
		stop()
		<-done
	})
	return srv
}

// publish runs ffmpeg pushing a test pattern and a 440 Hz tone to key for
// at most secs seconds; it is killed when the test ends.
type publisher struct {
	cmd  *exec.Cmd
	out  *testenv.LogBuffer
	done chan struct{}
	err  error
}

func (g *gateway) publish(t *testing.T, key string, secs int, extra ...string) *publisher {
	t.Helper()
	return g.publishTo(t, g.srv, key, secs, extra...)
}

func (g *gateway) publishTo(t *testing.T, srv *Server, key string, secs int, extra ...string) *publisher {
	t.Helper()
	size := "320x240"
	if g.size != "" {
		size = g.size
	}
	args := []string{"-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=" + size + ":rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", strconv.Itoa(secs)}
	if len(extra) > 0 {
		args = append(args, extra...)
	} else {
		args = append(args, "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "30", "-pix_fmt", "yuv420p",
			"-c:a", "aac", "-b:a", "96k")
	}
	args = append(args, "-f", "flv", srv.URL()+"/"+key)
	p := &publisher{cmd: exec.Command(needFFmpeg(t), args...), out: &testenv.LogBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(p.stop)
	return p
}

func (p *publisher) stop() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// exited waits for ffmpeg to end and returns its error and output.
func (p *publisher) exited(t *testing.T, within time.Duration) (error, string) {
	t.Helper()
	select {
	case <-p.done:
		return p.err, p.out.String()
	case <-time.After(within):
		t.Fatalf("ffmpeg still running after %s", within)
		return nil, ""
	}
}

// sink collects what a subscriber receives: H.264 as an Annex B stream
// and Opus decoded to PCM.
type sink struct {
	mu        sync.Mutex
	h264      bytes.Buffer
	frames    int
	keyframes int
	pcm       bytes.Buffer
	dec       *transcode.Decoder
	depack    codecs.H264Packet
}

func (s *sink) video(b []byte) {
	var p rtp.Packet
	if p.Unmarshal(b) != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out, err := s.depack.Unmarshal(p.Payload)
	if err != nil {
		return
	}
	if s.h264.Len() == 0 && !bytes.Contains(out, []byte{0, 0, 0, 1, 0x67}) && !bytes.Contains(out, []byte{0, 0, 1, 0x67}) {
		return // start at a keyframe's parameter sets
	}
	s.h264.Write(out)
	if p.Marker {
		s.frames++
	}
	if bytes.Contains(out, []byte{0, 0, 0, 1, 0x65}) || bytes.Contains(out, []byte{0, 0, 1, 0x65}) {
		s.keyframes++
	}
}

func (s *sink) audio(b []byte) {
	var p rtp.Packet
	if p.Unmarshal(b) != nil || len(p.Payload) == 0 {
		return
	}
	_ = s.dec.Write(p.Payload)
}

func (s *sink) counts() (frames, keyframes, pcmBytes int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.frames, s.keyframes, s.pcm.Len()
}

// decodeH264 writes what was received to a file and decodes it with
// ffmpeg; it returns the number of frames decoded.
func decodeH264(t *testing.T, annexB []byte) int {
	t.Helper()
	f := filepath.Join(t.TempDir(), "in.h264")
	if err := os.WriteFile(f, annexB, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(needFFmpeg(t), "-v", "error", "-f", "h264", "-i", f, "-f", "framemd5", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg decode: %v\n%s", err, out)
	}
	n := 0
	for _, line := range strings.Split(string(out), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			n++
		}
	}
	if bytes.Contains(out, []byte("error")) {
		t.Fatalf("decode errors:\n%s", out)
	}
	return n
}

func (g *gateway) wait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, 30*time.Second, what, cond)
}

var _ = fmt.Sprint
