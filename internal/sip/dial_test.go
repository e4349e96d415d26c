package sip

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/config"
	"github.com/rtcloud/rtcloud/internal/testenv"
)

func (g *gateway) api(t *testing.T) (*httptest.Server, string) {
	t.Helper()
	mux := http.NewServeMux()
	(&API{Rules: g.rules, Bus: g.bus, Verifier: auth.NewVerifier(map[string]string{auth.DevKey: auth.DevSecret})}).Register(mux)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	admin := testenv.MintWith(t, auth.TokenOptions{Key: auth.DevKey, Secret: auth.DevSecret, Identity: "ops",
		Grant: auth.Grant{Namespace: "default", Room: "*", Admin: true}})
	return hs, admin
}

func post(t *testing.T, url, token, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// POST /v1/sip/calls dials a SIPp user agent; once it answers, the callee
// is a participant of the room; kicking that participant hangs up (BYE),
// which SIPp accepts.
func TestOutboundCall(t *testing.T) {
	g := startGateway(t, nil)
	hs, admin := g.api(t)
	l := listen(t, g, "out", "listener")
	port := testenv.FreePort(t, "127.0.0.1")
	uas := exec.Command(need(t, "sipp"), "-sn", "uas", "-i", "127.0.0.1", "-p", strconv.Itoa(port), "-m", "1", "-nostdin",
		"-timeout", "30s", "-timeout_error")
	var out bytes.Buffer
	uas.Stdout, uas.Stderr = &out, &out
	uas.Dir = t.TempDir()
	if err := uas.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- uas.Wait() }()
	defer func() {
		_ = uas.Process.Kill()
		<-done
	}()

	if code, m := post(t, hs.URL+"/v1/sip/calls", admin, `{"room":"out","to":"not a uri"}`); code != http.StatusBadRequest {
		t.Fatalf("bad URI: %d %v", code, m)
	}
	to := "sip:bob@127.0.0.1:" + strconv.Itoa(port)
	var code int
	var call map[string]any
	testenv.WaitFor(t, 10*time.Second, "SIPp answers", func() bool {
		code, call = post(t, hs.URL+"/v1/sip/calls", admin, `{"room":"out","to":"`+to+`"}`)
		return code == http.StatusCreated
	})
	identity, _ := call["identity"].(string)
	if !strings.HasPrefix(identity, "sip-bob-") || call["direction"] != "outbound" {
		t.Fatalf("call: %v", call)
	}
	var sessionID string
	testenv.WaitFor(t, 20*time.Second, "the callee joins the room", func() bool {
		for _, p := range l.c.Participants() {
			if p.Identity == identity {
				sessionID = p.SessionID
				return true
			}
		}
		return false
	})
	// The kick may land before the gateway has published the call's track
	// (it ends the WebSocket then): either way the call ends as removed.
	ctx := testenv.Context(t, 10*time.Second)
	if err := g.bus.Request(ctx, bus.NodeCommand(g.stack.Node.ID(), bus.CmdClose),
		bus.Close{SessionID: sessionID, Reason: bus.ReasonKicked}, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		done <- err
		if err != nil {
			t.Fatalf("sipp uas: %v\n%s", err, out.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("SIPp got no BYE after the kick\n%s", out.String())
	}
	testenv.WaitFor(t, 10*time.Second, "a log line says the kick ended the call", func() bool {
		return strings.Contains(g.logs.String(), "removed from the room")
	})
}

// A rule made through the API routes calls; the API refuses bad rules
// and tokens.
func TestRuleAPI(t *testing.T) {
	g := startGateway(t, func(c *config.SIP) { c.RoomFromURI = false })
	hs, admin := g.api(t)
	if code, _ := post(t, hs.URL+"/v1/sip/rules", admin, `{"to":"7000","room":"bad room"}`); code != http.StatusBadRequest {
		t.Fatalf("bad room: %d", code)
	}
	if code, _ := post(t, hs.URL+"/v1/sip/rules", testenv.Mint(t, "default", "x", "u"), `{"to":"7000","room":"x"}`); code != http.StatusForbidden {
		t.Fatalf("no admin: %d", code)
	}
	code, rule := post(t, hs.URL+"/v1/sip/rules", admin, `{"to":"7000","room":"apiroom"}`)
	if code != http.StatusCreated || rule["id"] == nil {
		t.Fatalf("create: %d %v", code, rule)
	}
	l := listen(t, g, "apiroom", "listener")
	g.callWithSIPp(t, "7000", "", 1000)
	l.hear(t, "sip-")
	req, _ := http.NewRequest("DELETE", hs.URL+"/v1/sip/rules/"+rule["id"].(string), nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	ctx := testenv.Context(t, 5*time.Second)
	if _, err := g.rules.Match(ctx, "7000", "sip:7000@127.0.0.1"); err == nil {
		t.Fatal("the deleted rule still routes")
	}
}
