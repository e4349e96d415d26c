package browsertest

import (
	"fmt"
	"testing"
	"time"
)

// TestWatchPage: a conference page publishes; the viewer page
// /watch/{room} plays it over WHEP.
func TestWatchPage(t *testing.T) {
	s := startStack(t)
	browser := newBrowser(t)
	viewer := newPage(t, browser, "viewer")
	// The viewer comes first: it waits (WHEP 409) until someone publishes.
	viewer.navigate(s.URL + "/watch/stage")
	eventually(t, 10*time.Second, "the viewer waits for a publisher", func() error {
		var status string
		if err := viewer.eval(`document.getElementById('status').textContent`, &status); err != nil {
			return err
		}
		if status != "Nothing is published in this room yet; waiting…" {
			return fmt.Errorf("status %q", status)
		}
		return nil
	})

	alice := newPage(t, browser, "alice")
	joinConference(t, s, alice, "stage", "Alice")
	waitReceiving(t, viewer, `window.rtcloudViewer && window.rtcloudViewer.pc`, true)
	eventually(t, 10*time.Second, "the viewer page plays", func() error {
		var st struct {
			Status string `json:"status"`
			Width  int    `json:"width"`
		}
		if err := viewer.eval(`({status: document.getElementById('status').textContent,
			width: document.getElementById('video').videoWidth})`, &st); err != nil {
			return err
		}
		if st.Status != "Playing" || st.Width == 0 {
			return fmt.Errorf("%+v", st)
		}
		return nil
	})
}
