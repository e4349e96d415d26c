package browsertest

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/web"
)

// TestPagesLoad loads the conference and viewer pages from the web
// handler alone: every module loads, nothing throws, the lobby shows the
// camera preview.
func TestPagesLoad(t *testing.T) {
	srv := httptest.NewServer(web.Handler())
	t.Cleanup(srv.Close)
	browser := newBrowser(t)
	p := newPage(t, browser, "lobby")
	p.navigate(srv.URL + "/")

	eventually(t, 10*time.Second, "the lobby shows the camera preview", func() error {
		var st struct {
			App       bool `json:"app"`
			LobbyShow bool `json:"lobby"`
			Width     int  `json:"width"`
		}
		if err := p.eval(`({app: !!window.rtcloudApp, lobby: !document.getElementById('lobby').hidden,
			width: document.getElementById('preview').videoWidth})`, &st); err != nil {
			return err
		}
		if !st.App || !st.LobbyShow || st.Width != 1280 {
			return errorf("app loaded %v, lobby visible %v, preview width %d (want 1280)", st.App, st.LobbyShow, st.Width)
		}
		return nil
	})
	if log := p.consoleLog(); strings.Contains(log, "exception") {
		t.Fatalf("the page threw:\n%s", log)
	}

	v := newPage(t, browser, "viewer")
	v.navigate(srv.URL + "/watch/demo")
	eventually(t, 10*time.Second, "the viewer page shows its room", func() error {
		var name string
		if err := v.eval(`document.getElementById('room-name').textContent`, &name); err != nil {
			return err
		}
		if name != "demo" {
			return errorf("room name %q", name)
		}
		return nil
	})
	// Without a signaling server the dev token request fails; the page
	// must say so instead of hanging.
	eventually(t, 10*time.Second, "the viewer page reports the missing server", func() error {
		var status string
		if err := v.eval(`document.getElementById('status').textContent`, &status); err != nil {
			return err
		}
		if !strings.Contains(status, "404") {
			return errorf("status %q", status)
		}
		return nil
	})
}
