package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/testenv"
)

// With a `keys:` section in the config file, the signaling server and the
// controller accept tokens of that key only: the public dev key, admin
// grant included, is refused, and the startup log names the active key ids
// without their secrets.
func TestConfiguredKeysReplaceDevKey(t *testing.T) {
	nats, err := bus.StartEmbedded(bus.EmbeddedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nats.Shutdown)
	cfg := filepath.Join(t.TempDir(), "rtcloud.yaml")
	if err := os.WriteFile(cfg, []byte("keys:\n  prodkey: prod-secret-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sigPort, ctlPort := testenv.FreePort(t, "127.0.0.1"), testenv.FreePort(t, "127.0.0.1")
	sig := startChild(t, "signal", "--config", cfg, "--nats", nats.ClientURL(), "--http", fmt.Sprintf("127.0.0.1:%d", sigPort))
	ctl := startChild(t, "controller", "--config", cfg, "--nats", nats.ClientURL(), "--http", fmt.Sprintf("127.0.0.1:%d", ctlPort))
	sigBase, ctlBase := fmt.Sprintf("http://127.0.0.1:%d", sigPort), fmt.Sprintf("http://127.0.0.1:%d", ctlPort)
	// No SFU node runs: the servers answer, not necessarily healthy.
	testenv.Eventually(t, 30*time.Second, "both servers answer", func() error {
		if _, err := status(http.MethodGet, sigBase+"/healthz", ""); err != nil {
			return err
		}
		_, err := status(http.MethodGet, ctlBase+"/v1/status", "")
		return err
	})

	admin := func(key, secret string) string {
		return testenv.MintWith(t, auth.TokenOptions{Key: key, Secret: secret, Identity: "op",
			Grant: auth.Grant{Namespace: auth.DefaultNamespace, Room: "*", Admin: true, Publish: true, Subscribe: true}})
	}
	devTok, prodTok := admin(auth.DevKey, auth.DevSecret), admin("prodkey", "prod-secret-0123456789")
	for _, tc := range []struct {
		name, method, url, tok string
		want                   func(int) bool
	}{
		{"dev key, drain", http.MethodPost, ctlBase + "/v1/admin/nodes/n1/drain", devTok, is(http.StatusUnauthorized)},
		{"dev key, rooms", http.MethodGet, ctlBase + "/v1/admin/rooms", devTok, is(http.StatusUnauthorized)},
		{"prod key, rooms", http.MethodGet, ctlBase + "/v1/admin/rooms", prodTok, is(http.StatusOK)},
		{"dev key, WHIP", http.MethodPost, sigBase + "/whip/r1", devTok, is(http.StatusUnauthorized)},
		{"prod key, WHIP", http.MethodPost, sigBase + "/whip/r1", prodTok, not(http.StatusUnauthorized)},
	} {
		code, err := status(tc.method, tc.url, tc.tok)
		if err != nil || !tc.want(code) {
			t.Errorf("%s: status %d, err %v", tc.name, code, err)
		}
	}
	for name, c := range map[string]*child{"signal": sig, "controller": ctl} {
		testenv.Eventually(t, 5*time.Second, name+" logs its key ids", func() error {
			out := c.out.String()
			if !strings.Contains(out, "API keys active") || !strings.Contains(out, "prodkey") {
				return fmt.Errorf("no key ids in the log yet")
			}
			if strings.Contains(out, "prod-secret") || strings.Contains(out, auth.DevKey) {
				return fmt.Errorf("log shows a secret or the dev key:\n%s", out)
			}
			return nil
		})
	}
}

// Without any configured key a production component refuses to start; it
// never falls back to the public dev key.
func TestNoKeysRefusesToStart(t *testing.T) {
	for _, cmd := range []string{"signal", "controller"} {
		c := exec.Command(testenv.Binary(t), cmd, "--nats", "nats://127.0.0.1:1")
		c.Env = withoutEnv(os.Environ(), "RTCLOUD_API_KEY", "RTCLOUD_API_SECRET", "RTCLOUD_DEV_KEYS")
		out, err := c.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "no API key configured") {
			t.Errorf("rtcloud %s without keys: err %v, output %q", cmd, err, out)
		}
	}
}

func withoutEnv(env []string, names ...string) []string {
	var out []string
	for _, e := range env {
		keep := true
		for _, n := range names {
			if strings.HasPrefix(e, n+"=") {
				keep = false
			}
		}
		if keep {
			out = append(out, e)
		}
	}
	return out
}

func status(method, url, tok string) (int, error) {
	req, err := http.NewRequest(method, url, strings.NewReader("v=0\r\n"))
	if err != nil {
		return 0, err
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	req.Header.Set("Content-Type", "application/sdp")
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func is(want int) func(int) bool  { return func(c int) bool { return c == want } }
func not(want int) func(int) bool { return func(c int) bool { return c != want } }
