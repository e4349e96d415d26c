package signal

import (
	"encoding/json"
	"testing"

	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/protocol"
)

// The offer limits never panic and agree with a plain count of m-lines.
func FuzzOfferLimits(f *testing.F) {
	for _, s := range []string{testOffer, testViewOffer, manyLines(3, "sendonly"), manyLines(5, "recvonly"), "v=0\r\nm=video 0 RTP/AVP 0\r\n"} {
		f.Add(s, uint8(2), uint8(1))
	}
	f.Fuzz(func(t *testing.T, offer string, sections, tracks uint8) {
		d, err := parseOffer(offer)
		if err != nil {
			return
		}
		l := Limits{MediaSections: int(sections), PublishedTracks: int(tracks)}
		l.defaults()
		le := l.checkOfferLimits(d)
		if len(d.MediaDescriptions) > l.MediaSections && le == nil {
			t.Fatalf("%d m-lines accepted with a limit of %d", len(d.MediaDescriptions), l.MediaSections)
		}
		if le != nil && le.code != protocol.CodeLimit {
			t.Fatalf("code %q", le.code)
		}
	})
}

// Requests and participants of any shape are either within the bounds or
// refused with a code.
func FuzzRequestLimits(f *testing.F) {
	for _, s := range []string{`{"type":"data","to":["a","b"],"payload":"eA=="}`, `{"type":"join","name":"n","metadata":"m"}`,
		`{"type":"subscribe","subscribe":[{"mid":"0","track_id":"TR_1","layer":"high"}]}`, `{"type":"trickle","candidate":{"candidate":"c"}}`} {
		f.Add([]byte(s), "alice")
	}
	f.Fuzz(func(t *testing.T, data []byte, identity string) {
		var m protocol.Message
		if json.Unmarshal(data, &m) != nil {
			return
		}
		if le := checkRequest(m); le == nil {
			if len(m.ID) > MaxIDBytes || len(m.To) > MaxRecipients {
				t.Fatal("oversized request accepted")
			}
		} else if le.code == "" {
			t.Fatal("refusal without a code")
		}
		p := bus.Participant{Identity: identity, Name: m.Name, Metadata: m.Metadata}
		if le := checkParticipant(p); le == nil && (len(p.Name) > MaxNameBytes || len(p.Metadata) > MaxMetadataBytes || p.Identity == "") {
			t.Fatal("oversized participant accepted")
		}
	})
}
