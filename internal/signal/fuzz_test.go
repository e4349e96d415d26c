package signal

import (
	"strings"
	"testing"

	"github.com/rtcloud/rtcloud/internal/bus"
)

func FuzzDecodeMessage(f *testing.F) {
	for _, s := range []string{`{"type":"join","token":"x"}`, `{"type":"offer","sdp":"v=0","subscribe":[{"mid":"0","track_id":"TR_1"}]}`,
		`{"type":"data","payload":"aGk=","to":["a"]}`, `{"type":"trickle","candidate":{"candidate":"c","sdpMLineIndex":70000}}`,
		`null`, `[]`, `{"type":"x","id":5}`, `{"type":"ping","id":"\u0000"}`, "\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, perr := decodeMessage(data)
		if perr == nil && !knownType(m.Type) {
			t.Fatalf("accepted unknown type %q", m.Type)
		}
		if perr != nil && perr.Code == "" {
			t.Fatal("error without a code")
		}
		if perr == nil && m.Type != "join" {
			// Requests of joined clients must never panic while being
			// turned into node commands.
			sess := &session{Participant: bus.Participant{SessionID: "PA_x"}}
			_, _, _ = nodeRequest(sess, m)
		}
	})
}

func FuzzSDPFrag(f *testing.F) {
	for _, s := range []string{"a=ice-ufrag:a\r\na=ice-pwd:b\r\n", "m=audio 9 UDP 0\r\na=mid:0\r\na=candidate:1 1 udp 1 1.2.3.4 5 typ host\r\n",
		"a=end-of-candidates", "garbage", "", "a=candidate:", "a=ice-ufrag:x\n", "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuv\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		frag, err := parseSDPFrag(body)
		if err != nil {
			return
		}
		if (frag.Ufrag == "") != (frag.Pwd == "") {
			t.Fatal("accepted half the ICE credentials")
		}
		if frag.Ufrag != "" && checkICECredentials(frag.Ufrag, frag.Pwd) != nil {
			t.Fatalf("accepted ICE credentials outside RFC 8839: %q %q", frag.Ufrag, frag.Pwd)
		}
		for _, c := range frag.Candidates {
			if !strings.HasPrefix(c.Candidate, "candidate:") {
				t.Fatalf("candidate %q", c.Candidate)
			}
		}
		_ = withCredentials(body, frag.Ufrag, frag.Pwd)
	})
}

func FuzzOffer(f *testing.F) {
	for _, s := range []string{testOffer, testViewOffer, "v=0\r\n", "v=0\r\nm=audio 0 RTP/AVP 0\r\n", "v=x"} {
		f.Add(s)
	}
	tracks := &bus.ParticipantInfo{Tracks: []bus.TrackInfo{{ID: "TR_a", Kind: bus.KindAudio}, {ID: "TR_v", Kind: bus.KindVideo}}}
	f.Fuzz(func(t *testing.T, offer string) {
		d, err := parseOffer(offer)
		if err != nil {
			return
		}
		iceCredentials(d)
		subs, err := bindTracks(tracks, recvMIDs(d))
		if err == nil && len(subs) == 0 {
			t.Fatal("no error and no subscriptions")
		}
		_, _ = answerFrag(offer)
	})
}
