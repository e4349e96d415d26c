package browsertest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/pkg/serverapi"
	"github.com/rtcloud/rtcloud/web"
)

// installSDKApp packs web/sdk with npm and installs the tarball into a
// copy of examples/web/conference, as a developer would; it returns the
// app's directory.
func installSDKApp(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("npm"); err != nil {
		t.Skip("npm is not installed (scripts/test-deps.sh installs it)")
	}
	sdkDir, _ := filepath.Abs(filepath.Join("..", "..", "web", "sdk"))
	exampleDir, _ := filepath.Abs(filepath.Join("..", "..", "examples", "web", "conference"))
	tmp := t.TempDir()
	out, err := exec.Command("npm", "pack", "--silent", "--pack-destination", tmp, sdkDir).Output()
	if err != nil {
		t.Fatalf("npm pack: %v", err)
	}
	tarball := filepath.Join(tmp, strings.TrimSpace(lastLine(string(out))))
	if _, err := os.Stat(tarball); err != nil {
		t.Fatalf("npm pack made no %s: %v", tarball, err)
	}
	app := filepath.Join(tmp, "app")
	if err := os.CopyFS(app, os.DirFS(exampleDir)); err != nil {
		t.Fatal(err)
	}
	_ = os.RemoveAll(filepath.Join(app, "node_modules"))
	cmd := exec.Command("npm", "install", "--offline", "--no-audit", "--no-fund", tarball)
	cmd.Dir = app
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm install %s: %v\n%s", filepath.Base(tarball), err, out)
	}
	pkg, err := os.ReadFile(filepath.Join(app, "node_modules", "@rtcloud", "sdk", "package.json"))
	if err != nil || !strings.Contains(string(pkg), `"version": "`+web.SDKVersion+`"`) {
		t.Fatalf("installed package.json (%v) lacks version %s:\n%s", err, web.SDKVersion, pkg)
	}
	return app
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// quickstart is the first ```js block after "## Quickstart" in
// docs/sdk.md.
func quickstart(t *testing.T) string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "sdk.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(doc), "\n## Quickstart")
	m := regexp.MustCompile("(?s)```js\n(.*?)```").FindStringSubmatch(after)
	if !ok || m == nil {
		t.Fatal("docs/sdk.md has no ```js block under ## Quickstart")
	}
	return m[1]
}

// TestSDKTypeCheck: the quickstart of docs/sdk.md and the example app pass
// tsc --checkJs --strict against the installed package's declarations.
func TestSDKTypeCheck(t *testing.T) {
	tsc, _ := filepath.Abs(filepath.Join("..", "..", "test", "sdk", "node_modules", ".bin", "tsc"))
	if _, err := os.Stat(tsc); err != nil {
		t.Skip("TypeScript is not installed: run scripts/test-deps.sh (npm ci in test/sdk)")
	}
	app := installSDKApp(t)
	if err := os.WriteFile(filepath.Join(app, "quickstart.js"), []byte(quickstart(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(tsc, "--noEmit", "--allowJs", "--checkJs", "--strict", "--target", "es2022", "--module", "esnext",
		"--moduleResolution", "bundler", "--lib", "es2022,dom,dom.iterable", "quickstart.js", "app.js", "globals.d.ts")
	cmd.Dir = app
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tsc: %v\n%s", err, out)
	}
}

// serveApp serves the installed app and, at /token, tokens for it (the
// app's backend: see examples/go/token-server). &publish=0 gives a token
// without the publish grant.
func serveApp(t *testing.T, dir string) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/", http.FileServer(http.Dir(dir)))
	mux.HandleFunc("GET /token", func(w http.ResponseWriter, r *http.Request) {
		tok, err := serverapi.NewToken(auth.DevKey, auth.DevSecret, serverapi.TokenOptions{Identity: r.FormValue("identity"),
			Room: r.FormValue("room"), Publish: r.FormValue("publish") != "0", Subscribe: true})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"token":%q}`, tok)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// appState is window.app.state of examples/web/conference.
type appState struct {
	Version      string                       `json:"version"`
	Phase        string                       `json:"phase"`
	PreviewWidth int                          `json:"previewWidth"`
	FirstStats   *struct{ Width, Height int } `json:"firstStats"`
	Quality      map[string]string            `json:"quality"`
	Left         []string                     `json:"left"`
	DeviceKinds  []string                     `json:"deviceKinds"`
	Error        string                       `json:"error"`
}

func (p *page) appState() (appState, error) {
	var st appState
	err := p.eval(`window.app ? window.app.state : {phase: 'not loaded'}`, &st)
	return st, err
}

// remoteVideoWidth is the width of the video another participant's tile
// plays ("" when it has none yet).
const remoteVideoJS = `(() => { const v = document.querySelector('.tile[data-identity="%s"] video');
  return v ? v.videoWidth : 0; })()`

// TestSDKPackageApp: the SDK packed with npm and installed from the
// tarball into the example app, served from an origin of its own: two
// pages preview, join, publish and play each other through attach(); the
// first getStats after publishing has real dimensions; each rates the
// other's connection; the SDK also loads cross-origin from the server;
// errors carry stable codes and plain messages; a page denied the camera
// gets permission_denied; leave() is seen by the other page.
func TestSDKPackageApp(t *testing.T) {
	app := installSDKApp(t)
	s := startStack(t)
	appURL := serveApp(t, app)
	b := newBrowser(t)
	const room = "sdkapp"
	pages := map[string]*page{}
	for _, name := range []string{"alice", "bob"} {
		p := newPage(t, b, name)
		pages[name] = p
		p.navigate(fmt.Sprintf("%s/?server=%s&room=%s&identity=%s", appURL, s.URL, room, name))
	}
	for name, p := range pages {
		other := map[string]string{"alice": "bob", "bob": "alice"}[name]
		eventually(t, 30*time.Second, name+" joins and plays "+other+"'s video", func() error {
			st, err := p.appState()
			if err != nil || st.Phase != "joined" {
				return fmt.Errorf("state %+v, %v", st, err)
			}
			var w int
			if err := p.eval(fmt.Sprintf(remoteVideoJS, other), &w); err != nil || w == 0 {
				return fmt.Errorf("%s's video width %d, %v", other, w, err)
			}
			return nil
		})
		st, _ := p.appState()
		if st.Version != web.SDKVersion || st.PreviewWidth == 0 || st.FirstStats == nil || st.FirstStats.Width == 0 || st.FirstStats.Height == 0 {
			t.Fatalf("%s: version %q (want %s), preview width %d, first stats %+v", name, st.Version, web.SDKVersion, st.PreviewWidth, st.FirstStats)
		}
		if !slices.Contains(st.DeviceKinds, "videoinput") || !slices.Contains(st.DeviceKinds, "audioinput") {
			t.Fatalf("%s: devices listed %v", name, st.DeviceKinds)
		}
		eventually(t, 15*time.Second, name+" rates "+other+"'s connection", func() error {
			st, err := p.appState()
			if q := st.Quality[other]; err != nil || (q != "excellent" && q != "good" && q != "poor") {
				return fmt.Errorf("quality %v, %v", st.Quality, err)
			}
			return nil
		})
	}
	alice := pages["alice"]
	testSDKFromServer(t, s, alice)
	testSDKErrors(t, s, alice, appURL)
	testSpeakerSwitch(t, alice, appURL)
	testInputSwitch(t, alice, appURL)
	testScreenWithAudio(t, alice, pages["bob"])

	pages["bob"].mustEval(`window.app.room.leave().then(() => window.app.room.state)`, nil)
	eventually(t, 10*time.Second, "alice sees bob leave", func() error {
		st, err := alice.appState()
		if err != nil || !slices.Contains(st.Left, "bob") {
			return fmt.Errorf("left %v, %v", st.Left, err)
		}
		return nil
	})
	testBrowserPolicies(t, s, appURL)
}

// testSDKFromServer: a page of another origin imports the SDK from the
// server, at its pinned version path.
func testSDKFromServer(t *testing.T, s *stack, p *page) {
	t.Helper()
	var v string
	p.mustEval(fmt.Sprintf(`import(%q).then((m) => m.VERSION)`, s.URL+"/sdk/v"+web.SDKVersion+"/rtcloud.js"), &v)
	if v != web.SDKVersion {
		t.Fatalf("cross-origin import: VERSION %q, want %s", v, web.SDKVersion)
	}
}

// testSDKErrors: refused tokens, unreachable servers and missing grants
// are told apart by code, with plain messages.
func testSDKErrors(t *testing.T, s *stack, p *page, appURL string) {
	t.Helper()
	var got map[string]struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Class   string `json:"class"`
	}
	p.mustEval(fmt.Sprintf(`(async () => {
  const sdk = await import(%q);
  const out = {};
  const grab = async (name, fn) => {
    try { await fn(); out[name] = {code: 'none', message: 'no error', class: ''}; }
    catch (e) { out[name] = {code: e.code, message: e.message, class: e instanceof sdk.RtcError ? 'RtcError' : e.constructor.name}; }
  };
  await grab('badToken', () => sdk.connect(%q, 'not-a-token'));
  await grab('noServer', () => sdk.connect('http://127.0.0.1:9', 'x'));
  const res = await fetch('/token?room=sdkapp&identity=viewer&publish=0');
  const { token } = await res.json();
  const room = await sdk.connect(%q, token, { autoSubscribe: false });
  const canvas = document.createElement('canvas');
  canvas.getContext('2d').fillRect(0, 0, 10, 10);
  await grab('noGrant', () => room.publishTrack(canvas.captureStream(5).getVideoTracks()[0]));
  await room.leave();
  return out;
})()`, appURL+"/node_modules/@rtcloud/sdk/rtcloud.js", s.URL, s.URL), &got)
	want := map[string]string{"badToken": "unauthorized", "noServer": "connection_failed", "noGrant": "forbidden"}
	for name, code := range want {
		e := got[name]
		if e.Code != code || e.Class != "RtcError" {
			t.Errorf("%s: code %q (%s), want %s: %q", name, e.Code, e.Class, code, e.Message)
		}
		if strings.HasPrefix(e.Message, e.Code) || strings.Contains(e.Message, "sfu:") || strings.Contains(e.Message, "signal:") {
			t.Errorf("%s: message %q repeats the code or names internal parts", name, e.Message)
		}
	}
	t.Logf("error messages: %+v", got)
}

// testSpeakerSwitch: received audio can be moved to another output
// device (Chromium's fake devices include outputs).
func testSpeakerSwitch(t *testing.T, p *page, appURL string) {
	t.Helper()
	var res struct {
		Outputs int      `json:"outputs"`
		Chosen  string   `json:"chosen"`
		Want    string   `json:"want"`
		Sinks   []string `json:"sinks"`
		Error   string   `json:"error"`
	}
	p.mustEval(`(async () => {
  const sdk = await import('`+appURL+`/node_modules/@rtcloud/sdk/rtcloud.js');
  const outs = await sdk.listDevices('audiooutput');
  const r = window.app.room;
  const sinks = () => { const out = [];
    for (const p of r.participants.values()) for (const t of p.tracks.values()) for (const el of t.attachedElements) out.push(el.sinkId);
    return out; };
  const want = outs.length ? outs[outs.length - 1].deviceId : '';
  let error = '';
  try { await r.switchDevice('audiooutput', want); } catch (e) { error = e.code + ': ' + e.message; }
  return {outputs: outs.length, chosen: r.speakerDeviceId, want, sinks: sinks(), error};
})()`, &res)
	if res.Outputs == 0 {
		t.Log("no audio outputs listed: speaker switching not exercised")
		return
	}
	// Headless Chromium opens no audio output for an element that plays
	// audio (setSinkId aborts, even for "default"); elements without audio
	// switch. The error must be the coded one.
	if res.Error != "" && !strings.HasPrefix(res.Error, "device_not_found: ") {
		t.Fatalf("switch speaker: %+v", res)
	}
	if res.Chosen != res.Want || !slices.Contains(res.Sinks, res.Want) {
		t.Fatalf("switch speaker: chosen %q, element sinks %q, want %q (%s)", res.Chosen, res.Sinks, res.Want, res.Error)
	}
	t.Logf("speaker switch: sinks %q, error %q", res.Sinks, res.Error)
}

// testInputSwitch: the published microphone and camera move to another
// input device without being unpublished.
func testInputSwitch(t *testing.T, p *page, appURL string) {
	t.Helper()
	var res map[string]struct {
		Want    string `json:"want"`
		Got     string `json:"got"`
		SameID  bool   `json:"sameId"`
		Sending bool   `json:"sending"`
		Error   string `json:"error"`
		Choices int    `json:"choices"`
	}
	p.mustEval(`(async () => {
  const sdk = await import('`+appURL+`/node_modules/@rtcloud/sdk/rtcloud.js');
  const r = window.app.room;
  const out = {};
  for (const [kind, source] of [['audioinput', 'microphone'], ['videoinput', 'camera']]) {
    const local = r.localTracks.find((l) => l.source === source);
    const id = local.id;
    const current = local.mediaStreamTrack.getSettings().deviceId;
    const devices = (await sdk.listDevices(kind)).filter((d) => d.deviceId !== 'default' && d.deviceId !== 'communications');
    const other = devices.find((d) => d.deviceId !== current) ?? devices[0];
    let error = '';
    try { await r.switchDevice(kind, other.deviceId); } catch (e) { error = e.code + ': ' + e.message; }
    out[kind] = {want: other.deviceId, got: local.mediaStreamTrack.getSettings().deviceId, sameId: local.id === id,
      sending: local.transceiver.sender.track === local.mediaStreamTrack, error, choices: devices.length};
  }
  return out;
})()`, &res)
	for kind, r := range res {
		if r.Error != "" || r.Got != r.Want || !r.SameID || !r.Sending {
			t.Errorf("switch %s: %+v", kind, r)
		}
	}
	t.Logf("input switches: %+v", res)
}

// testScreenWithAudio: publishScreen({audio: true}) publishes the screen
// and its sound (headless Chromium's fake screen has both), and bob
// receives both.
func testScreenWithAudio(t *testing.T, alice, bob *page) {
	t.Helper()
	var got struct {
		Source string   `json:"source"`
		All    []string `json:"all"`
	}
	alice.mustEval(`window.app.room.publishScreen({audio: true}).then((t) => ({source: t.source,
  all: window.app.room.localTracks.map((l) => l.source + '/' + l.kind)}))`, &got)
	if got.Source != "screen" || !slices.Contains(got.All, "screen_audio/audio") {
		t.Fatalf("publishScreen: %+v", got)
	}
	eventually(t, 15*time.Second, "bob plays alice's screen and its sound", func() error {
		var st struct {
			Width int  `json:"width"`
			Sound bool `json:"sound"`
		}
		err := bob.eval(`(() => { for (const p of window.app.room.participants.values()) {
  const v = p.trackBySource('screen'), a = p.trackBySource('screen_audio');
  if (v && v.attachedElements.length) return {width: v.attachedElements[0].videoWidth,
    sound: !!(a && a.kind === 'audio' && a.attachedElements.length && a.mediaStreamTrack)}; }
  return {width: 0, sound: false}; })()`, &st)
		if err != nil || st.Width == 0 || !st.Sound {
			return fmt.Errorf("screen %+v, %v", st, err)
		}
		return nil
	})
	alice.mustEval(`Promise.all(window.app.room.localTracks.filter((l) => l.source.startsWith('screen')).map((l) => l.unpublish()))`, nil)
}

// testBrowserPolicies runs a page in a browser that enforces what the
// test browsers switch off (--use-fake-ui-for-media-stream grants every
// capture and overrides permission settings; --autoplay-policy lets pages
// play sound at once): a page refused the camera gets permission_denied;
// received audio the browser refuses to play is reported, startAudio()
// outside a user gesture fails with autoplay_blocked and within one plays.
func testBrowserPolicies(t *testing.T, s *stack, appURL string) {
	t.Helper()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium(t)), chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("autoplay-policy", "document-user-activation-required"),
		chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns"))
	defer cancelAlloc()
	b, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	if err := chromedp.Do(b); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	p := newPage(t, b, "strict")
	p.navigate(appURL + "/index.html?server=http://127.0.0.1:9")
	ctx, cancelCall := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancelCall()
	for _, name := range []string{"camera", "microphone"} {
		if _, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: name}, Setting: browser.PermissionSettingDenied, Origin: appURL}); err != nil {
			t.Fatalf("deny %s: %v", name, err)
		}
	}
	sdkURL := appURL + "/node_modules/@rtcloud/sdk/rtcloud.js"
	var code string
	p.mustEval(`import('`+sdkURL+`').then((sdk) => sdk.createLocalVideoTrack()).then(() => 'granted', (e) => e.code)`, &code)
	if code != "permission_denied" {
		t.Fatalf("camera denied: code %q, want permission_denied", code)
	}

	// Listen to alice, who is still in the room, without a user gesture.
	p.mustEval(fmt.Sprintf(`(async () => {
  const sdk = await import(%q);
  const { token } = await (await fetch('/token?room=sdkapp&identity=listener&publish=0')).json();
  const room = await sdk.connect(%q, token);
  window.listener = { room, playback: [] };
  room.on('audioPlaybackChanged', (ok) => window.listener.playback.push(ok));
  room.on('trackSubscribed', (t) => { if (t.kind === 'audio') document.body.append(t.attach()); });
})()`, sdkURL, s.URL), nil)
	eventually(t, 20*time.Second, "the refused audio is reported", func() error {
		var st struct {
			Can      bool   `json:"can"`
			Playback []bool `json:"playback"`
		}
		if err := p.eval(`({can: window.listener.room.canPlaybackAudio, playback: window.listener.playback})`, &st); err != nil {
			return err
		}
		if st.Can || !slices.Equal(st.Playback, []bool{false}) {
			return fmt.Errorf("canPlaybackAudio %v, audioPlaybackChanged %v", st.Can, st.Playback)
		}
		return nil
	})
	p.mustEval(`window.listener.room.startAudio().then(() => 'played', (e) => e.code)`, &code)
	if code != "autoplay_blocked" {
		t.Fatalf("startAudio without a gesture: %q, want autoplay_blocked", code)
	}
	gesture, await := true, true
	res, err := chromedp.Call(ctx, runtime.Evaluate, runtime.EvaluateParams{UserGesture: &gesture, AwaitPromise: &await,
		Expression: `window.listener.room.startAudio().then(() => 'played', (e) => e.code)`, ReturnByValue: &await})
	if err != nil || res.Result == nil || string(res.Result.Value) != `"played"` {
		t.Fatalf("startAudio in a user gesture: %v, %+v", err, res)
	}
	var can bool
	p.mustEval(`window.listener.room.canPlaybackAudio`, &can)
	if !can {
		t.Fatal("canPlaybackAudio stays false after startAudio in a user gesture")
	}
	p.mustEval(`window.listener.room.leave()`, nil)
}
