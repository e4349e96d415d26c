package sip

import (
	"crypto/rand"
	"math"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/testenv"
)

const sampleOffer = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n" +
	"m=audio 4000 RTP/AVP 111 0 8 101\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:101 telephone-event/8000\r\na=rtcp:4001\r\n"

func TestParseSDP(t *testing.T) {
	rm, err := parseSDP([]byte(sampleOffer))
	if err != nil {
		t.Fatal(err)
	}
	if rm.codec.Name != "opus" || rm.addr.String() != "192.0.2.1:4000" || rm.rtcp.Port() != 4001 {
		t.Fatalf("%+v", rm)
	}
	g711 := strings.Replace(sampleOffer, "111 0 8 101", "8 0 101", 1)
	if rm, err = parseSDP([]byte(g711)); err != nil || rm.codec.Name != "PCMA" || !rm.codec.HasDT || rm.codec.DTMF != 101 {
		t.Fatalf("%+v %v", rm, err)
	}
	if _, err := parseSDP([]byte(strings.Replace(sampleOffer, "111 0 8 101", "9", 1))); err == nil {
		t.Fatal("G.722 only: no error")
	}
	// Our own offer and answer parse back.
	if rm, err = parseSDP(answerSDP(rm.addr.Addr(), 5000, rm.codec, 1)); err != nil || rm.codec.Name != "PCMA" {
		t.Fatalf("answer: %+v %v", rm, err)
	}
}

func FuzzSDP(f *testing.F) {
	f.Add([]byte(sampleOffer))
	f.Add([]byte("v=0\r\nm=audio 0 RTP/AVP\r\na=rtcp:\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		rm, err := parseSDP(b)
		if err == nil && rm.codec.Name != "PCMU" && rm.codec.Name != "PCMA" && rm.codec.Name != "opus" {
			t.Fatalf("codec %q", rm.codec.Name)
		}
	})
}

func FuzzDTMF(f *testing.F) {
	f.Add(uint32(1), []byte{1, 0x8a, 0, 160})
	f.Add(uint32(2), []byte{200, 0, 0})
	f.Fuzz(func(t *testing.T, ts uint32, b []byte) {
		var d dtmfReader
		k, ok := d.key(ts, b)
		if ok && !strings.ContainsRune(dtmfDigits, rune(k)) {
			t.Fatalf("key %q", k)
		}
		if _, again := d.key(ts, b); again {
			t.Fatal("one event counted twice")
		}
	})
}

// Garbage on the SIP port (UDP and TCP), INVITEs without a usable SDP
// and an INVITE with a re-INVITE's To tag do not disturb a call in
// progress; the gateway still answers OPTIONS.
func TestMalformedSIP(t *testing.T) {
	g := startGateway(t, nil)
	l := listen(t, g, "phone", "listener")
	g.callWithSIPp(t, "phone", "", 1000)
	l.hear(t, "sip-")
	addr := g.srv.Addr()
	udp, err := net.DialUDP("udp", nil, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	invite := func(body, toTag string) string {
		return "INVITE sip:phone@" + addr.String() + " SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK" + strconv.Itoa(int(time.Now().UnixNano())) +
			"\r\nFrom: <sip:x@127.0.0.1>;tag=1\r\nTo: <sip:phone@127.0.0.1>" + toTag + "\r\nCall-ID: junk-" + strconv.Itoa(len(body)) + toTag +
			"\r\nCSeq: 1 INVITE\r\nContact: <sip:x@127.0.0.1:5999>\r\nContent-Type: application/sdp\r\nContent-Length: " +
			strconv.Itoa(len(body)) + "\r\n\r\n" + body
	}
	msgs := []string{
		"\x00\x01garbage", "INVITE", "INVITE sip:x SIP/2.0\r\n\r\n", "SIP/2.0 200 OK\r\nCSeq: x\r\n\r\n",
		invite("", ""), invite("v=0\r\nm=video 1 RTP/AVP 96\r\n", ""), invite(sampleOffer, ";tag=abc"),
		strings.Repeat("A", 1400),
	}
	for i := 0; i < 20; i++ {
		junk := make([]byte, 1+i*60)
		_, _ = rand.Read(junk)
		msgs = append(msgs, string(junk))
	}
	for _, m := range msgs {
		_, _ = udp.Write([]byte(m))
	}
	tcp, err := net.Dial("tcp", addr.String())
	if err == nil {
		_, _ = tcp.Write([]byte("INVITE sip:x SIP/2.0\r\nContent-Length: 99999999\r\n\r\n\x00\x00"))
		_ = tcp.Close()
	}
	// The call goes on: the tone keeps arriving.
	if f := l.tone(t, 2); math.Abs(f-1000) > 20 {
		t.Fatalf("peak at %.0f Hz", f)
	}
	// And the gateway still answers.
	opts := "OPTIONS sip:rtcloud@" + addr.String() + " SIP/2.0\r\nVia: SIP/2.0/UDP " + udp.LocalAddr().String() +
		";branch=z9hG4bKopt1\r\nFrom: <sip:x@127.0.0.1>;tag=2\r\nTo: <sip:rtcloud@127.0.0.1>\r\nCall-ID: opt-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
	got := ""
	testenv.WaitFor(t, 10*time.Second, "OPTIONS answered", func() bool {
		_, _ = udp.Write([]byte(opts))
		_ = udp.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		buf := make([]byte, 4096)
		for {
			n, err := udp.Read(buf)
			if err != nil {
				return false
			}
			got = string(buf[:n])
			if strings.HasPrefix(got, "SIP/2.0 200") && strings.Contains(got, "OPTIONS") {
				return true
			}
		}
	})
	if !strings.Contains(g.logs.String(), "status=488") {
		t.Fatal("no INVITE was refused with 488")
	}
}
