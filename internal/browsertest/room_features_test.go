package browsertest

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestConferenceSpeakersScreenViewers: in one room of the conference page,
// the active-speaker highlight follows who speaks, a shared screen reaches
// the other page as a second video track and goes away when sharing
// stops, and a WHEP viewer is counted but gets no tile. It leaves
// screenshots of the page with three participants at desktop and phone
// sizes in test-artifacts/.
func TestConferenceSpeakersScreenViewers(t *testing.T) {
	const room = "features"
	s, browser, alice, bob := twoInRoom(t, room)

	t.Run("active speaker", func(t *testing.T) { testActiveSpeaker(t, alice, bob) })
	t.Run("screen share", func(t *testing.T) { testScreenShare(t, s, room, alice, bob) })
	viewer := newPage(t, browser, "viewer")
	t.Run("WHEP viewer", func(t *testing.T) { testViewerHidden(t, s, room, viewer, alice) })

	carol := newPage(t, browser, "carol")
	joinConference(t, s, carol, room, "Carol")
	remoteTile(t, alice, "Carol")
	remoteTile(t, alice, "Bob")
	waitStatsOverlays(t, alice)
	dir := filepath.Join("..", "..", "test-artifacts")
	alice.screenshotAt(1280, 720, false, filepath.Join(dir, "conference-3-desktop.png"))
	alice.screenshotAt(390, 844, true, filepath.Join(dir, "conference-3-phone.png"))

	// The viewer goes; the count goes with it.
	viewer.navigate("about:blank")
	eventually(t, 15*time.Second, "alice no longer counts a viewer", func() error {
		var hidden bool
		if err := alice.eval(`document.getElementById('room-viewers').hidden`, &hidden); err != nil {
			return err
		}
		if !hidden {
			return fmt.Errorf("the viewer count is still shown")
		}
		return nil
	})
}

// speakingJS lists the names on the tiles highlighted as speaking.
const speakingJS = `[...document.querySelectorAll('#grid .tile.speaking .name')].map((n) => n.textContent)`

// waitSpeaking waits until exactly the tile named want is highlighted on p.
func waitSpeaking(t *testing.T, p *page, want string) {
	t.Helper()
	eventually(t, 15*time.Second, p.name+" highlights only "+want, func() error {
		var names []string
		if err := p.eval(speakingJS, &names); err != nil {
			return err
		}
		if len(names) != 1 || names[0] != want {
			return fmt.Errorf("speaking tiles %q", names)
		}
		return nil
	})
}

// testActiveSpeaker: both fake microphones beep; with one of them muted
// the highlight is on the other, on both pages, and it moves when the
// roles swap.
func testActiveSpeaker(t *testing.T, alice, bob *page) {
	alice.mustEval(`document.getElementById('btn-mic').click()`, nil)
	waitSpeaking(t, alice, "Bob")
	waitSpeaking(t, bob, "Bob (you)")

	alice.mustEval(`document.getElementById('btn-mic').click()`, nil)
	bob.mustEval(`document.getElementById('btn-mic').click()`, nil)
	waitSpeaking(t, alice, "Alice (you)")
	waitSpeaking(t, bob, "Alice")
	bob.mustEval(`document.getElementById('btn-mic').click()`, nil) // back on for the rest
}

// screenJS describes, on the page, the screen track of the participant
// named name: its mid and whether its tile shows video.
func screenJS(name string) string {
	return fmt.Sprintf(`(() => {
  const p = [...window.rtcloudApp.room.participants.values()].find((x) => x.name === %q);
  const t = p && p.trackBySource('screen');
  const tile = p && document.querySelector('#grid .tile.screen[data-session="' + p.sessionId + '"]');
  return {published: !!t, mid: (t && t.mid) || '', tile: !!tile,
    width: tile ? tile.querySelector('video').videoWidth : 0, name: tile ? tile.querySelector('.name').textContent : ''};
})()`, name)
}

type screenState struct {
	Published bool   `json:"published"`
	MID       string `json:"mid"`
	Tile      bool   `json:"tile"`
	Width     int    `json:"width"`
	Name      string `json:"name"`
}

// testScreenShare: Alice presses Share (Chromium's fake capture UI picks
// the fake screen without a prompt); Bob receives and decodes it as a
// second video track with source "screen" in a tile of its own; pressing
// the button again unpublishes it everywhere.
func testScreenShare(t *testing.T, s *stack, room string, alice, bob *page) {
	alice.mustEval(`document.getElementById('btn-screen').click()`, nil)
	eventually(t, 15*time.Second, "alice publishes her screen", func() error {
		var label string
		if err := alice.eval(`(() => { const r = window.rtcloudApp.room; const l = r.localTracks.find((x) => x.source === 'screen');
			return l && l.id ? document.querySelector('#btn-screen .label').textContent : ''; })()`, &label); err != nil {
			return err
		}
		if label != "Stop share" {
			return fmt.Errorf("screen track not published (button %q)", label)
		}
		return nil
	})
	eventually(t, 10*time.Second, "the SFU has alice's camera and screen", func() error {
		return sfuVideoSources(s, room, "alice-", []string{"camera", "screen"})
	})

	var sc screenState
	eventually(t, 20*time.Second, "bob shows alice's screen in its own tile", func() error {
		if err := bob.eval(screenJS("Alice"), &sc); err != nil {
			return err
		}
		if !sc.Published || sc.MID == "" || !sc.Tile || sc.Width == 0 || sc.Name != "Alice (screen)" {
			return fmt.Errorf("%+v", sc)
		}
		return nil
	})
	first := -1
	eventually(t, 20*time.Second, "bob decodes alice's screen (frames rising)", func() error {
		in, err := bob.inbound(roomPC)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(in, func(x inbound) bool { return x.MID == sc.MID })
		if i < 0 || in[i].FrameWidth == 0 {
			return fmt.Errorf("no decoded video on mid %s: %+v", sc.MID, in)
		}
		if first < 0 {
			first = in[i].FramesDecoded
		}
		if in[i].FramesDecoded < first+5 {
			return fmt.Errorf("frames decoded %d -> %d", first, in[i].FramesDecoded)
		}
		return nil
	})
	// The camera keeps its own tile.
	remoteTile(t, bob, "Alice")
	bob.screenshotAt(390, 844, true, filepath.Join("..", "..", "test-artifacts", "conference-share-phone.png"))

	alice.mustEval(`document.getElementById('btn-screen').click()`, nil)
	eventually(t, 15*time.Second, "bob sees alice's screen unpublished", func() error {
		if err := bob.eval(screenJS("Alice"), &sc); err != nil {
			return err
		}
		if sc.Published || sc.Tile {
			return fmt.Errorf("%+v", sc)
		}
		return nil
	})
	eventually(t, 10*time.Second, "the SFU has only alice's camera", func() error {
		return sfuVideoSources(s, room, "alice-", []string{"camera"})
	})
}

// sfuVideoSources checks the sources of the video tracks the SFU has from
// the participant whose identity starts with prefix.
func sfuVideoSources(s *stack, room, prefix string, want []string) error {
	ps, err := s.roomState(room)
	if err != nil {
		return err
	}
	for _, p := range ps {
		if !strings.HasPrefix(p.Identity, prefix) {
			continue
		}
		var got []string
		for _, tr := range p.Tracks {
			if tr.Kind == "video" {
				got = append(got, tr.Source)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			return fmt.Errorf("%s publishes video %v, want %v", p.Identity, got, want)
		}
		return nil
	}
	return fmt.Errorf("no participant %s* in %+v", prefix, ps)
}

// testViewerHidden: the viewer page joins over WHEP; the conference page
// knows it as a viewer, counts it, and shows no tile for it.
func testViewerHidden(t *testing.T, s *stack, room string, viewer, alice *page) {
	viewer.navigate(s.URL + "/watch/" + room)
	waitReceiving(t, viewer, `window.rtcloudViewer && window.rtcloudViewer.pc`, false)
	eventually(t, 10*time.Second, "alice counts the viewer and shows no tile for it", func() error {
		var st struct {
			Kinds   []string `json:"kinds"`
			Tiles   []string `json:"tiles"`
			Count   string   `json:"count"`
			Viewers string   `json:"viewers"`
			Hidden  bool     `json:"hidden"`
		}
		if err := alice.eval(`({kinds: [...window.rtcloudApp.room.participants.values()].map((p) => p.kind).sort(),
			tiles: [...document.querySelectorAll('#grid .tile')].map((t) => t.dataset.identity),
			count: document.getElementById('room-count').textContent,
			viewers: document.getElementById('room-viewers').textContent,
			hidden: document.getElementById('room-viewers').hidden})`, &st); err != nil {
			return err
		}
		if !slices.Equal(st.Kinds, []string{"whep", "ws"}) {
			return fmt.Errorf("participant kinds %v", st.Kinds)
		}
		for _, id := range st.Tiles {
			if strings.HasPrefix(id, "viewer-") {
				return fmt.Errorf("a tile for the viewer: %v", st.Tiles)
			}
		}
		if len(st.Tiles) != 2 || st.Count != "2 in the room" || st.Viewers != "1 watching" || st.Hidden {
			return fmt.Errorf("%+v", st)
		}
		return nil
	})
}

// screenshotAt saves a screenshot of the page at a viewport size (a phone
// when mobile), then restores the browser's size.
func (p *page) screenshotAt(width, height int64, mobile bool, path string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	opts := []chromedp.EmulateViewportOption{}
	if mobile {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, height, opts...)); err != nil {
		p.t.Fatalf("%s: set viewport %dx%d: %v", p.name, width, height, err)
	}
	// Let the layout settle and the videos paint at the new size. A page
	// wider than the viewport makes a phone zoom out (innerWidth grows).
	var w int64
	p.mustEval(`new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(window.innerWidth))))`, &w)
	p.screenshot(path)
	if w != width {
		p.t.Errorf("%s: at a %dx%d viewport the page is %d px wide", p.name, width, height, w)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateReset()); err != nil {
		p.t.Fatalf("%s: reset viewport: %v", p.name, err)
	}
}
