package client

import (
	"net"
	"strings"
	"testing"
)

func TestViaRewritesCandidates(t *testing.T) {
	answer := "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n" +
		"a=candidate:1 1 udp 2130706431 127.0.0.1 7801 typ host\r\n" +
		"a=candidate:2 1 tcp 1671430143 127.0.0.1 7801 typ host tcptype passive\r\n" +
		"a=end-of-candidates\r\n"
	p := &peer{via: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}}
	got := p.viaAnswer(answer)
	want := "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n" +
		"a=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host\r\n" +
		"a=end-of-candidates\r\n"
	if got != want {
		t.Fatalf("answer rewritten to\n%q\nwant\n%q", got, want)
	}
	if off := p.viaOffer(answer); strings.Contains(off, "a=candidate") || !strings.Contains(off, "a=end-of-candidates") {
		t.Fatalf("offer keeps candidates: %q", off)
	}
	direct := &peer{}
	if direct.viaAnswer(answer) != answer || direct.viaOffer(answer) != answer {
		t.Fatal("without Via the SDP changed")
	}
}
