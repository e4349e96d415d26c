package egress

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/h264reader"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"
	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/config"
	"github.com/rtcloud/rtcloud/internal/testenv"
	"github.com/rtcloud/rtcloud/internal/teststack"
	"github.com/rtcloud/rtcloud/pkg/client"
	"go.uber.org/goleak"
)

// fixtures are decodable media files made once per test binary by ffmpeg:
// a VP8 test pattern (IVF, a keyframe each half second) and an Opus sine
// tone (Ogg).
var fixtures struct {
	once      sync.Once
	dir       string
	vp8, opus string
	h264      string
	err       error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	testenv.RemoveBinary()
	if fixtures.dir != "" {
		_ = os.RemoveAll(fixtures.dir)
	}
	os.Exit(code)
}

func needFFmpeg(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatalf("ffmpeg is required (scripts/test-deps.sh installs it): %v", err)
	}
}

func mediaFixtures(t testing.TB) (vp8, opus string) {
	t.Helper()
	needFFmpeg(t)
	fixtures.once.Do(func() {
		dir, err := os.MkdirTemp("", "egress-fixtures-")
		if err != nil {
			fixtures.err = err
			return
		}
		fixtures.dir = dir
		fixtures.vp8 = filepath.Join(dir, "pattern.ivf")
		fixtures.opus = filepath.Join(dir, "tone.ogg")
		fixtures.h264 = filepath.Join(dir, "pattern.h264")
		runs := [][]string{
			{"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-t", "4", "-c:v", "libvpx", "-deadline", "realtime",
				"-cpu-used", "8", "-b:v", "600k", "-g", "15", "-keyint_min", "15", "-auto-alt-ref", "0", "-lag-in-frames", "0", "-f", "ivf", fixtures.vp8},
			{"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "4", "-ac", "2", "-c:a", "libopus",
				"-b:a", "64k", "-frame_duration", "20", "-page_duration", "20000", "-f", "ogg", fixtures.opus},
			{"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-t", "4", "-c:v", "libx264", "-profile:v", "baseline",
				"-preset", "ultrafast", "-tune", "zerolatency", "-g", "15", "-bf", "0", "-pix_fmt", "yuv420p", "-f", "h264", fixtures.h264},
		}
		for _, args := range runs {
			out, err := exec.Command("ffmpeg", append([]string{"-v", "error", "-y"}, args...)...).CombinedOutput()
			if err != nil {
				fixtures.err = fmt.Errorf("ffmpeg %v: %v: %s", args, err, out)
				return
			}
		}
	})
	if fixtures.err != nil {
		t.Fatal(fixtures.err)
	}
	return fixtures.vp8, fixtures.opus
}

// env is a stack (NATS, SFU node, signaling), the egress API over HTTP
// and egress workers.
type env struct {
	t      *testing.T
	st     *teststack.Stack
	api    *API
	srv    *httptest.Server
	out    string
	admin  string
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newEnv(t *testing.T) *env { return newEnvWith(t, teststack.Options{}) }

func newEnvWith(t *testing.T, o teststack.Options) *env {
	t.Helper()
	needFFmpeg(t)
	st := teststack.Start(t, o)
	b := testenv.ConnectWith(t, bus.Options{URLs: st.NATS.ClientURL(), Name: "egress-api"})
	api, err := NewAPI(testenv.Context(t, 10*time.Second), APIOptions{Bus: b, Verifier: auth.NewVerifier(config.DevKeys()),
		Logger: testenv.Logger(), WorkerTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.Handler())
	e := &env{t: t, st: st, api: api, srv: srv, out: t.TempDir()}
	e.admin = testenv.MintWith(t, auth.TokenOptions{Key: auth.DevKey, Secret: auth.DevSecret, Identity: "admin",
		Grant: auth.Grant{Namespace: auth.DefaultNamespace, Room: "*", Admin: true}})
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	t.Cleanup(func() {
		cancel()
		e.wg.Wait()
		srv.Close()
		api.Close()
	})
	_ = ctx
	return e
}

// testConfig is the egress config of test workers: a small composite.
func (e *env) testConfig(mod func(*config.Egress)) config.Egress {
	c := config.DefaultEgress()
	c.OutputDir = e.out
	c.SignalURL = e.st.Signals[0].WS
	c.Width, c.Height, c.FPS, c.VideoKbps = 640, 360, 15, 600
	if mod != nil {
		mod(&c)
	}
	return c
}

// worker starts a worker; stop it by calling the returned function (it
// finalizes its egresses) or let the test end.
func (e *env) worker(mod func(*config.Egress)) (*Worker, context.CancelFunc) {
	e.t.Helper()
	c := e.testConfig(mod)
	return e.workerWith(c, client.MediaOptions{IPFilter: client.LoopbackOnly})
}

// workerWith starts a worker with config c and media options m.
func (e *env) workerWith(c config.Egress, m client.MediaOptions) (*Worker, context.CancelFunc) {
	e.t.Helper()
	b := testenv.ConnectWith(e.t, bus.Options{URLs: e.st.NATS.ClientURL(), Name: "egress-worker"})
	w, err := NewWorker(testenv.Context(e.t, 10*time.Second), WorkerOptions{Config: c, Key: auth.DevKey, Secret: auth.DevSecret,
		Bus: b, Logger: testenv.Logger(), Media: m})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer close(done)
		if err := w.Run(ctx); err != nil {
			e.t.Errorf("worker: %v", err)
		}
	}()
	stop := func() { cancel(); <-done }
	e.t.Cleanup(stop)
	return w, stop
}

// call sends an API request with the admin token (or tok, when set).
func (e *env) call(method, path, tok string, body any) (int, []byte) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		switch b := body.(type) {
		case string:
			rd = strings.NewReader(b)
		default:
			data, _ := json.Marshal(b)
			rd = bytes.NewReader(data)
		}
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	if tok == "" {
		tok = e.admin
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

func (e *env) start(req bus.EgressRequest) bus.EgressInfo {
	e.t.Helper()
	code, body := e.call("POST", "/v1/egress", "", req)
	if code != http.StatusCreated {
		e.t.Fatalf("POST /v1/egress: %d %s", code, body)
	}
	var info bus.EgressInfo
	if err := json.Unmarshal(body, &info); err != nil {
		e.t.Fatal(err)
	}
	return info
}

func (e *env) status(id string) bus.EgressInfo {
	e.t.Helper()
	code, body := e.call("GET", "/v1/egress/"+id, "", nil)
	if code != http.StatusOK {
		e.t.Fatalf("GET egress: %d %s", code, body)
	}
	var info bus.EgressInfo
	_ = json.Unmarshal(body, &info)
	return info
}

func (e *env) stop(id string) bus.EgressInfo {
	e.t.Helper()
	code, body := e.call("DELETE", "/v1/egress/"+id, "", nil)
	if code != http.StatusOK {
		e.t.Fatalf("DELETE egress: %d %s", code, body)
	}
	var info bus.EgressInfo
	_ = json.Unmarshal(body, &info)
	return info
}

// waitStatus polls until the egress has status.
func (e *env) waitStatus(id, status string, within time.Duration) bus.EgressInfo {
	e.t.Helper()
	var info bus.EgressInfo
	testenv.Eventually(e.t, within, "egress "+id+" "+status, func() error {
		info = e.status(id)
		if info.Status != status {
			return fmt.Errorf("status %s (%s)", info.Status, info.Reason)
		}
		return nil
	})
	return info
}

// waitDuration polls until the egress has written at least d of media.
func (e *env) waitDuration(id string, d time.Duration) {
	e.t.Helper()
	testenv.Eventually(e.t, d+20*time.Second, "egress "+id+" duration", func() error {
		info := e.status(id)
		if info.Final() {
			e.t.Fatalf("egress ended early: %s %s", info.Status, info.Reason)
		}
		if info.Duration < d.Seconds() {
			return fmt.Errorf("%.1fs written", info.Duration)
		}
		return nil
	})
}

// hookEvents collects the egress webhook events of a room.
type hookEvents struct {
	mu  sync.Mutex
	evs []bus.HookEvent
}

type eventTrail struct {
	types []string // type:status
	last  bus.EgressInfo
}

func (e *env) events(room string) *hookEvents {
	e.t.Helper()
	h := &hookEvents{}
	b := testenv.ConnectWith(e.t, bus.Options{URLs: e.st.NATS.ClientURL(), Name: "egress-events"})
	sub, err := b.Subscribe(bus.HookEvents(auth.DefaultNamespace, room), func(m *nats.Msg) {
		var ev bus.HookEvent
		if json.Unmarshal(m.Data, &ev) == nil {
			h.mu.Lock()
			h.evs = append(h.evs, ev)
			h.mu.Unlock()
		}
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = sub.Unsubscribe() })
	return h
}

// wait returns the events of egress id once one of type last arrived.
func (h *hookEvents) wait(t *testing.T, id, last string) eventTrail {
	t.Helper()
	var tr eventTrail
	testenv.Eventually(t, 10*time.Second, "event "+last, func() error {
		h.mu.Lock()
		defer h.mu.Unlock()
		tr = eventTrail{}
		for _, ev := range h.evs {
			var info bus.EgressInfo
			if json.Unmarshal(ev.Object, &info) != nil || info.EgressID != id {
				continue
			}
			tr.types = append(tr.types, ev.Type+":"+info.Status)
			tr.last = info
			if ev.Type == last {
				return nil
			}
		}
		return fmt.Errorf("events so far: %v", tr.types)
	})
	return tr
}

// publisher is a Go client publishing decodable VP8 and/or Opus from the
// fixtures, looped, in real time.
type publisher struct {
	c      *client.Client
	tracks []*client.LocalTrack
	stop   chan struct{}
	wg     sync.WaitGroup
}

func (e *env) publish(room, identity string, video, audio bool) *publisher {
	e.t.Helper()
	vp8, opus := mediaFixtures(e.t)
	ctx := testenv.Context(e.t, 20*time.Second)
	c, err := client.Connect(ctx, e.st.Signals[0].WS, testenv.Mint(e.t, auth.DefaultNamespace, room, identity),
		client.Options{Name: identity, Media: client.MediaOptions{IPFilter: client.LoopbackOnly}, Logger: testenv.Logger()})
	if err != nil {
		e.t.Fatal(err)
	}
	p := &publisher{c: c, stop: make(chan struct{})}
	var specs []client.TrackSpec
	var vt, at *webrtc.TrackLocalStaticSample
	if video {
		vt, _ = webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", identity)
		specs = append(specs, client.TrackSpec{Local: []webrtc.TrackLocal{vt}, Name: "cam"})
	}
	if audio {
		at, _ = webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", identity)
		specs = append(specs, client.TrackSpec{Local: []webrtc.TrackLocal{at}, Name: "mic"})
	}
	if p.tracks, err = c.Publish(ctx, specs...); err != nil {
		e.t.Fatal(err)
	}
	if err := c.WaitPublished(ctx, p.tracks...); err != nil {
		e.t.Fatal(err)
	}
	if vt != nil {
		p.loop(func() error { return playIVF(vp8, vt, p.stop) })
	}
	if at != nil {
		p.loop(func() error { return playOgg(opus, at, p.stop) })
	}
	e.t.Cleanup(p.close)
	return p
}

// publishH264 publishes the H.264 fixture (constrained baseline), looped.
func (e *env) publishH264(room, identity string) *publisher {
	e.t.Helper()
	mediaFixtures(e.t)
	ctx := testenv.Context(e.t, 20*time.Second)
	c, err := client.Connect(ctx, e.st.Signals[0].WS, testenv.Mint(e.t, auth.DefaultNamespace, room, identity),
		client.Options{Name: identity, Media: client.MediaOptions{IPFilter: client.LoopbackOnly}, Logger: testenv.Logger()})
	if err != nil {
		e.t.Fatal(err)
	}
	p := &publisher{c: c, stop: make(chan struct{})}
	vt, _ := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, "video", identity)
	if p.tracks, err = c.Publish(ctx, client.TrackSpec{Local: []webrtc.TrackLocal{vt}, Name: "cam"}); err != nil {
		e.t.Fatal(err)
	}
	if err := c.WaitPublished(ctx, p.tracks...); err != nil {
		e.t.Fatal(err)
	}
	p.loop(func() error { return playH264(fixtures.h264, vt, p.stop) })
	e.t.Cleanup(p.close)
	return p
}

func (p *publisher) trackID(kind string) string {
	for _, t := range p.tracks {
		if t.Kind() == kind {
			return t.ID()
		}
	}
	return ""
}

func (p *publisher) loop(play func() error) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			if err := play(); err != nil {
				return
			}
		}
	}()
}

func (p *publisher) close() {
	select {
	case <-p.stop:
		return
	default:
	}
	close(p.stop)
	p.wg.Wait()
	p.c.Close()
}

var errStopped = errors.New("stopped")

func playIVF(file string, t *webrtc.TrackLocalStaticSample, stop chan struct{}) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	r, hdr, err := ivfreader.NewWith(f)
	if err != nil {
		return err
	}
	d := time.Second * time.Duration(hdr.TimebaseNumerator) / time.Duration(hdr.TimebaseDenominator)
	tick := time.NewTicker(d)
	defer tick.Stop()
	for {
		frame, _, err := r.ParseNextFrame()
		if err != nil {
			return nil // end of file: loop
		}
		select {
		case <-stop:
			return errStopped
		case <-tick.C:
		}
		if err := t.WriteSample(media.Sample{Data: frame, Duration: d}); err != nil {
			return err
		}
	}
}

// playH264 sends an Annex B file one access unit (parameter sets and
// one slice) per frame at 30 fps.
func playH264(file string, t *webrtc.TrackLocalStaticSample, stop chan struct{}) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := h264reader.NewReader(f)
	if err != nil {
		return err
	}
	d := time.Second / 30
	tick := time.NewTicker(d)
	defer tick.Stop()
	var au []byte
	for {
		nal, err := r.NextNAL()
		if err != nil {
			return nil
		}
		au = append(append(au, 0, 0, 0, 1), nal.Data...)
		if nal.UnitType != h264reader.NalUnitTypeCodedSliceNonIdr && nal.UnitType != h264reader.NalUnitTypeCodedSliceIdr {
			continue
		}
		select {
		case <-stop:
			return errStopped
		case <-tick.C:
		}
		if err := t.WriteSample(media.Sample{Data: au, Duration: d}); err != nil {
			return err
		}
		au = nil
	}
}

func playOgg(file string, t *webrtc.TrackLocalStaticSample, stop chan struct{}) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	r, _, err := oggreader.NewWith(f)
	if err != nil {
		return err
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last uint64
	for {
		page, hdr, err := r.ParseNextPage()
		if err != nil {
			return nil
		}
		if hdr.GranulePosition == 0 || len(page) == 0 {
			continue // header pages
		}
		samples := hdr.GranulePosition - last
		last = hdr.GranulePosition
		if samples == 0 || samples > 48000 {
			samples = 960
		}
		select {
		case <-stop:
			return errStopped
		case <-tick.C:
		}
		if err := t.WriteSample(media.Sample{Data: page, Duration: time.Duration(samples) * time.Second / 48000}); err != nil {
			return err
		}
	}
}

// probe returns ffprobe's codec names and the container duration.
func probe(t testing.TB, file string) ([]string, float64) {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=index,codec_name:format=duration",
		"-of", "default=noprint_wrappers=1", file).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe %s: %v: %s", file, err, out)
	}
	var codecs []string
	dur := -1.0
	seen := map[string]bool{} // MPEG-TS lists its streams once per program too
	index := ""
	for _, l := range strings.Split(string(out), "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(l), "=")
		switch k {
		case "index":
			index = v
		case "codec_name":
			if !seen[index] {
				codecs = append(codecs, v)
			}
			seen[index] = true
		case "duration":
			dur, _ = strconv.ParseFloat(v, 64)
		}
	}
	if dur <= 0 { // live-style WebM carries no duration: use the last packet
		out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "packet=pts_time", "-of", "csv=p=0", file).Output()
		if err == nil {
			for _, l := range strings.Split(string(out), "\n") {
				if v, err := strconv.ParseFloat(strings.Trim(l, " ,\r"), 64); err == nil && v > dur {
					dur = v
				}
			}
		}
	}
	return codecs, dur
}

// decodes fails the test unless ffmpeg decodes file without an error.
func decodes(t testing.TB, file string) {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", file, "-f", "null", "-").CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("ffmpeg does not decode %s cleanly: %v: %s", file, err, out)
	}
}
