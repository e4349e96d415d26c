package sfu

import (
	"errors"
	"strings"
	"testing"
)

// parseSDP either refuses an offer or returns no more m-lines than the
// node's limit; it never panics.
func FuzzParseSDPLimits(f *testing.F) {
	line := "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=sendonly\r\na=rtpmap:111 opus/48000/2\r\na=candidate:1 1 udp 1 192.0.2.1 9 typ host\r\n"
	head := "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
	for _, s := range []string{head + line, head + strings.Repeat(line, 40), head, "garbage"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		infos, err := parseSDP(s)
		if err != nil {
			if !errors.Is(err, ErrBadSDP) && !errors.Is(err, ErrLimit) {
				t.Fatalf("error %v is neither bad SDP nor a limit", err)
			}
			return
		}
		sending := 0
		for _, mi := range infos {
			if mi.sends() && (mi.kind == "audio" || mi.kind == "video") {
				sending++
			}
		}
		if len(infos) > MaxMediaSections || sending > MaxPublishedTracks {
			t.Fatalf("%d m-lines, %d sending, accepted", len(infos), sending)
		}
	})
}
