// Package examples_test builds the example programs and runs them against
// an rtcloud stack in the test process, as a developer would.
package examples_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/testenv"
	"github.com/rtcloud/rtcloud/internal/teststack"
	"github.com/rtcloud/rtcloud/pkg/client"
	"go.uber.org/goleak"
)

// binaries builds the Go examples once per test process.
var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

func binary(t *testing.T, name string) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "rtcloud-examples-"); buildErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", binDir+"/", "./go/...").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./examples/go/...: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, name)
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// proc is a running example; its output is kept for the failure report.
type proc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  strings.Builder
	done chan struct{}
	err  error
}

func start(t *testing.T, env []string, name string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	p := &proc{cmd: cmd, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			p.mu.Lock()
			p.out.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(name), p.output())
		}
	})
	return p
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func join(t *testing.T, ctx context.Context, wsURL, identity string) *client.Client {
	t.Helper()
	c, err := client.Connect(ctx, wsURL, testenv.Mint(t, "default", "demo", identity), client.Options{Logger: testenv.Logger(),
		Media: client.MediaOptions{IPFilter: client.LoopbackOnly}})
	if err != nil {
		t.Fatalf("%s joins: %v", identity, err)
	}
	t.Cleanup(c.Close)
	return c
}

// The echo bot sends alice's own audio back: alice receives, from the
// bot, the packets her synthetic track stamped.
func TestEchoBot(t *testing.T) {
	bot := binary(t, "echo-bot")
	st := teststack.Start(t, teststack.Options{})
	ctx := testenv.Context(t, 60*time.Second)
	alice := join(t, ctx, st.Signals[0].WS, "alice")
	if _, err := alice.Publish(ctx, client.TrackSpec{Codec: client.CodecOpus}); err != nil {
		t.Fatal(err)
	}
	p := start(t, nil, bot, "-url", st.Signals[0].WS, "-room", "demo", "-from", "alice", "-duration", "50s")
	echo, err := alice.WaitTracks(ctx, 1, func(ti client.TrackInfo) bool { return ti.Identity == "echo-bot" })
	if err != nil {
		t.Fatalf("no track from the bot: %v", err)
	}
	rt, err := alice.Subscribe(ctx, echo[0].ID, client.LayerAuto)
	if err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 20*time.Second, "alice's stamped audio back from the bot", func() bool {
		s := rt.Stats()
		return s.Packets >= 50 && s.NoTrailer == 0
	})
	if med := rt.Latency().Quantile(0.5); med > 2*time.Second {
		t.Fatalf("echo: median delay %v", med)
	}
	select {
	case <-p.done:
		t.Fatalf("the bot exited: %v", p.err)
	default:
	}
}

// save-track records alice's VP8 and Opus tracks; ffmpeg decodes the
// files.
func TestSaveTrack(t *testing.T) {
	rec := binary(t, "save-track")
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (scripts/test-deps.sh installs it)", tool)
		}
	}
	st := teststack.Start(t, teststack.Options{})
	ctx := testenv.Context(t, 60*time.Second)
	dir := t.TempDir()
	ivf, ogg := filepath.Join(dir, "in.ivf"), filepath.Join(dir, "in.ogg")
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=6", "-c:v", "libvpx", "-g", "15", "-b:v", "300k", "-f", "ivf", ivf)
	ffmpeg(t, "-f", "lavfi", "-i", "sine=frequency=440:duration=6", "-c:a", "libopus", "-f", "ogg", ogg)
	alice := join(t, ctx, st.Signals[0].WS, "alice")
	for _, in := range []struct {
		path   string
		format client.Format
	}{{ivf, client.FormatIVF}, {ogg, client.FormatOgg}} {
		f, err := os.Open(in.path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = f.Close() })
		if _, err := alice.PublishReader(ctx, client.ReaderSpec{Format: in.format, Reader: f}); err != nil {
			t.Fatal(err)
		}
	}
	video, audio := filepath.Join(dir, "video.ivf"), filepath.Join(dir, "audio.ogg")
	pv := start(t, nil, rec, "-url", st.Signals[0].WS, "-room", "demo", "-kind", "video", "-out", video, "-duration", "3s")
	pa := start(t, nil, rec, "-url", st.Signals[0].WS, "-room", "demo", "-kind", "audio", "-out", audio, "-duration", "3s")
	for _, p := range []*proc{pv, pa} {
		select {
		case <-p.done:
			if p.err != nil {
				t.Fatalf("save-track: %v", p.err)
			}
		case <-ctx.Done():
			t.Fatal("save-track did not stop after its -duration")
		}
	}
	if n := frames(t, video); n < 30 {
		t.Errorf("%s decodes to %d frames, want 30 or more of 3 s at 30 fps", video, n)
	}
	if n := frames(t, audio); n < 50 {
		t.Errorf("%s decodes to %d frames, want 50 or more of 3 s of 20 ms", audio, n)
	}
}

func ffmpeg(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ffmpeg", append([]string{"-v", "error", "-y"}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
}

// frames counts the frames ffmpeg decodes from path.
func frames(t *testing.T, path string) int {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "0",
		"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", path, err, out)
	}
	var n int
	_, _ = fmt.Sscan(strings.TrimSpace(string(out)), &n)
	return n
}

// The Go and the Node token servers hand out tokens that join a room.
func TestTokenServers(t *testing.T) {
	st := teststack.Start(t, teststack.Options{})
	ctx := testenv.Context(t, 60*time.Second)
	env := []string{"RTCLOUD_API_KEY=" + auth.DevKey, "RTCLOUD_API_SECRET=" + auth.DevSecret}
	servers := map[string]func(port int) []string{
		"go": func(port int) []string {
			return []string{binary(t, "token-server"), "-addr", fmt.Sprintf("127.0.0.1:%d", port), "-static", "web/conference"}
		},
		"node": func(port int) []string {
			if _, err := exec.LookPath("node"); err != nil {
				t.Skip("Node.js is not installed")
			}
			return []string{"node", "node/token-server/server.mjs"}
		},
	}
	for name, cmd := range servers {
		t.Run(name, func(t *testing.T) {
			port := testenv.FreePort(t, "127.0.0.1")
			args := cmd(port)
			start(t, append(env, fmt.Sprintf("PORT=%d", port)), args[0], args[1:]...)
			var tok string
			testenv.Eventually(t, 20*time.Second, name+" token server answers", func() error {
				var err error
				tok, err = fetchToken(ctx, fmt.Sprintf("http://127.0.0.1:%d/token?room=demo&identity=%s-user", port, name))
				return err
			})
			c, err := client.Connect(ctx, st.Signals[0].WS, tok, client.Options{Logger: testenv.Logger()})
			if err != nil {
				t.Fatalf("join with the %s server's token: %v", name, err)
			}
			defer c.Close()
			if c.Self().Identity != name+"-user" || c.Room().Name != "demo" {
				t.Fatalf("joined as %+v", c.Self())
			}
			if name == "go" { // it also serves the web app
				res, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/index.html", port))
				if err != nil || res.StatusCode != http.StatusOK {
					t.Fatalf("GET /index.html: %v %v", res, err)
				}
				_ = res.Body.Close()
			}
		})
	}
}

func fetchToken(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	var body struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil || body.Token == "" {
		return "", fmt.Errorf("status %d, %v", res.StatusCode, err)
	}
	return body.Token, nil
}

// The Go examples build as programs of another module, one that requires
// github.com/rtcloud/rtcloud as an application would (here replaced by
// this checkout): the SDK's API is usable from outside, internal packages
// and all.
func TestExamplesBuildOutsideTheModule(t *testing.T) {
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	goMod := "module example.com/myapp\n\ngo 1.26.8\n\nrequire github.com/rtcloud/rtcloud v0.0.0\n\nreplace github.com/rtcloud/rtcloud => " + repo + "\n"
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(goMod), 0o644); err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile(filepath.Join(repo, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(dir, os.DirFS("go")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-o", t.TempDir()+"/", "./...")
	cmd.Dir = dir
	// Offline: every module is in the cache already, since this module
	// built with them.
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build in a module of its own: %v\n%s", err, out)
	}
}
