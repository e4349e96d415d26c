package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromium returns the browser to run, skipping the test when there is none.
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("RTCLOUD_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	t.Skip("Chromium is not installed (scripts/test-deps.sh installs it)")
	return ""
}

var (
	videoOnce sync.Once
	videoPath string
	videoErr  error
)

// fakeVideo returns a 1280x720 y4m clip for Chromium's fake camera: at
// 720p Chromium sends three simulcast layers (two at 640x480).
func fakeVideo(t *testing.T) string {
	t.Helper()
	videoOnce.Do(func() {
		dir, err := os.MkdirTemp("", "rtcloud-browsertest-")
		if err != nil {
			videoErr = err
			return
		}
		registerCleanup(func() { _ = os.RemoveAll(dir) })
		videoPath = filepath.Join(dir, "camera.y4m")
		out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi",
			"-i", "testsrc2=size=1280x720:rate=30", "-t", "1", "-pix_fmt", "yuv420p", "-y", videoPath).CombinedOutput()
		if err != nil {
			videoErr = fmt.Errorf("ffmpeg: %v: %s", err, out)
		}
	})
	if videoErr != nil {
		if _, err := exec.LookPath("ffmpeg"); err != nil {
			t.Skip("ffmpeg is not installed (scripts/test-deps.sh installs it)")
		}
		t.Fatalf("make the fake camera clip: %v", videoErr)
	}
	return videoPath
}

// newBrowser starts a headless Chromium with a fake 720p camera and a fake
// microphone (a beeping tone). Pages are opened with newPage.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	exe := chromium(t)
	video := fakeVideo(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-file-for-fake-video-capture", video),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		// Pages that capture nothing would hide their addresses behind mDNS names.
		chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns"),
		// Background tabs must keep decoding and sending at full rate.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		cancel()
		cancelAlloc()
		t.Fatalf("start Chromium: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	return ctx
}

// page is one browser tab.
type page struct {
	t    *testing.T
	name string
	ctx  context.Context
	mu   sync.Mutex
	logs []string
}

// newPage opens a tab in the browser and collects its console output,
// printed if the test fails.
func newPage(t *testing.T, browser context.Context, name string) *page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	p := &page{t: t, name: name, ctx: ctx}
	err := chromedp.Listen(ctx, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			var parts []string
			for _, a := range e.Args {
				if a.Value != nil {
					parts = append(parts, string(a.Value))
				} else {
					parts = append(parts, a.Description)
				}
			}
			p.log(fmt.Sprintf("console.%s: %s", e.Type, strings.Join(parts, " ")))
		case *runtime.EventExceptionThrown:
			d := e.ExceptionDetails
			desc := d.Text
			if d.Exception != nil {
				desc += " " + d.Exception.Description
			}
			p.log(fmt.Sprintf("exception: %s (%s:%d:%d)", desc, d.URL, d.LineNumber+1, d.ColumnNumber+1))
		}
	})
	if err != nil {
		cancel()
		t.Fatalf("open tab %s: %v", name, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			var dump, load string
			_ = p.eval(rtpDumpJS, &dump)
			_ = p.eval(loadDumpJS, &load)
			t.Logf("page %s console:\n%s\nRTP stats: %s\npage load: %s", name, p.consoleLog(), dump, load)
		}
		cancel()
	})
	return p
}

func (p *page) log(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.logs = append(p.logs, time.Now().Format("15:04:05.000")+" "+s)
}

func (p *page) consoleLog() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.logs, "\n")
}

func (p *page) navigate(url string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		p.t.Fatalf("%s: navigate to %s: %v", p.name, url, err)
	}
}

// appStarted polls until the conference app's module has run
// (window.rtcloudApp exists) or d passes.
func (p *page) appStarted(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		var started bool
		if p.eval(`typeof window.rtcloudApp === 'object'`, &started) == nil && started {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// eval runs a JavaScript expression (awaiting a promise result) and decodes
// its JSON value into out.
func (p *page) eval(expr string, out any) error {
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(raw, out)
}

// mustEval is eval that fails the test on error.
func (p *page) mustEval(expr string, out any) {
	p.t.Helper()
	if err := p.eval(expr, out); err != nil {
		p.t.Fatalf("%s: evaluate %q: %v", p.name, expr, err)
	}
}

func (p *page) screenshot(path string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Fatalf("%s: screenshot: %v", p.name, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot: %s", path)
}

// loadDumpJS describes how far the page loaded: its URL and ready state,
// whether the app started, and each script or module it fetched with its
// HTTP status (0 when the fetch failed or the server sent no timing).
const loadDumpJS = `JSON.stringify({url: location.href, readyState: document.readyState,
  app: typeof window.rtcloudApp, resources: performance.getEntriesByType('resource')
    .map((r) => r.name.replace(location.origin, '') + ' ' + (r.responseStatus || 0) + ' ' + Math.round(r.duration) + 'ms')})`

// rtpDumpJS summarizes the RTP stats of a page's PeerConnection, printed
// when a test fails.
const rtpDumpJS = `(async () => {
  const pc = (window.rtcloudApp && window.rtcloudApp.room && window.rtcloudApp.room.peerConnection) ||
    (window.rtcloudViewer && window.rtcloudViewer.pc);
  if (!pc) return 'no peer connection';
  const keep = ['kind', 'mid', 'rid', 'ssrc', 'packetsReceived', 'packetsLost', 'framesDecoded', 'framesReceived', 'framesDropped',
    'keyFramesDecoded', 'frameWidth', 'frameHeight', 'pliCount', 'nackCount', 'firCount', 'bytesSent', 'packetsSent',
    'framesEncoded', 'keyFramesEncoded', 'qualityLimitationReason', 'retransmittedPacketsSent', 'active'];
  const out = [pc.connectionState];
  (await pc.getStats()).forEach((s) => {
    if (s.type !== 'inbound-rtp' && s.type !== 'outbound-rtp') return;
    const o = {type: s.type};
    for (const k of keep) if (s[k] !== undefined) o[k] = s[k];
    out.push(o);
  });
  return JSON.stringify(out);
})()`
