package browsertest

import (
	"strings"
	"testing"
)

// TestRefusedSubscriptionKeepsSession: the SFU refuses an offer whose
// subscription names a track that is gone (it was unpublished while the
// offer was on its way). The page rolls the offer back and stays able to
// negotiate: later offers succeed, reuse the refused transceivers instead
// of piling up new ones, and the media already flowing keeps playing.
func TestRefusedSubscriptionKeepsSession(t *testing.T) {
	_, _, alice, _ := twoInRoom(t, "refused")
	var out struct {
		Refused      []string `json:"refused"`
		Restart      string   `json:"restart"`
		Transceivers []int    `json:"transceivers"`
	}
	alice.mustEval(`(async () => {
  const s = window.rtcloudApp.room.session;
  const gone = (id, kind) => ({id, kind, mid: null, transceiver: null, mediaStreamTrack: null});
  const out = {refused: [], restart: '', transceivers: [s.pc.getTransceivers().length]};
  for (const [id, kind] of [['TR_gone0000000v', 'video'], ['TR_gone0000000a', 'audio'], ['TR_gone0000001v', 'video']]) {
    try { await s.subscribe(gone(id, kind), ''); out.refused.push('accepted ' + id); }
    catch (e) { out.refused.push(e.code + ': ' + e.message); }
  }
  out.transceivers.push(s.pc.getTransceivers().length);
  try { await s.iceRestart(); out.restart = 'ok'; } catch (e) { out.restart = e.message; }
  out.transceivers.push(s.pc.getTransceivers().length);
  return out;
})()`, &out)
	for _, r := range out.Refused {
		if !strings.Contains(r, "not_found") {
			t.Fatalf("subscriptions to a gone track: %q, want not_found refusals", out.Refused)
		}
	}
	if out.Restart != "ok" {
		t.Fatalf("the next offer after refused ones failed: %s", out.Restart)
	}
	// Three refusals, one video and one audio transceiver: the third
	// reused the first's.
	if before, after := out.Transceivers[0], out.Transceivers[2]; after != before+2 {
		t.Fatalf("transceivers %v: %d added for three refused subscriptions of two kinds, want 2", out.Transceivers, after-before)
	}
	waitReceiving(t, alice, roomPC, true)
}
