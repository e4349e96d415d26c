package sip

import (
	"bytes"
	"context"
	"encoding/binary"
	"log/slog"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/config"
	"github.com/rtcloud/rtcloud/internal/testenv"
	"github.com/rtcloud/rtcloud/internal/teststack"
	"github.com/rtcloud/rtcloud/pkg/client"
)

func need(t *testing.T, bin string) string {
	t.Helper()
	p, err := exec.LookPath(bin)
	if err != nil {
		t.Skipf("%s not installed (scripts/test-deps.sh installs it)", bin)
	}
	return p
}

func media() client.MediaOptions {
	return client.MediaOptions{IPFilter: client.LoopbackOnly, Logger: testenv.Logger()}
}

// gateway is a stack with a SIP gateway in front of it.
type gateway struct {
	stack *teststack.Stack
	srv   *Server
	rules *Rules
	logs  *testenv.LogBuffer
	bus   *bus.Client
}

func startGateway(t *testing.T, edit func(*config.SIP)) *gateway {
	t.Helper()
	ff := need(t, "ffmpeg")
	st := teststack.Start(t, teststack.Options{})
	logs := &testenv.LogBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	b := testenv.Connect(t, st.NATS.ClientURL())
	c := config.Default()
	c.DevKeys = true // testenv mints with the dev key
	c.SIP.Addr = "127.0.0.1:0"
	c.SIP.AdvertiseIP = "127.0.0.1"
	c.SIP.SignalURL = st.Signals[0].WS
	c.SIP.FFmpeg = ff
	c.SIP.RoomFromURI = true
	base := testenv.FreePort(t, "127.0.0.1") &^ 1
	if base > 65000 {
		base = 40000
	}
	c.SIP.RTPPortMin, c.SIP.RTPPortMax = base, base+19
	if edit != nil {
		edit(&c.SIP)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rules, err := OpenRules(ctx, b, c.SIP)
	if err != nil {
		t.Fatal(err)
	}
	key, secret := c.SigningKey("")
	srv, err := Listen(Options{Config: c.SIP, Rules: rules, SigningKey: key, SigningSecret: secret, Media: media(), Logger: log, Bus: b})
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Run(rctx)
	}()
	t.Cleanup(func() {
		stop()
		<-done
		if t.Failed() {
			t.Logf("sip log:\n%s", logs.Tail(60))
		}
	})
	return &gateway{stack: st, srv: srv, rules: rules, logs: logs, bus: b}
}

// pcapWriter writes RTP packets as a pcap file SIPp can play.
type pcapWriter struct {
	buf bytes.Buffer
	seq uint16
}

func newPcap() *pcapWriter {
	w := &pcapWriter{}
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535)
	binary.LittleEndian.PutUint32(hdr[20:], 1) // Ethernet
	w.buf.Write(hdr)
	return w
}

func (w *pcapWriter) packet(at time.Duration, pt uint8, ts uint32, marker bool, payload []byte) {
	w.seq++
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: w.seq, Timestamp: ts, SSRC: 0x5151, Marker: marker},
		Payload: payload}
	r, _ := p.Marshal()
	udp := make([]byte, 8+len(r))
	binary.BigEndian.PutUint16(udp[0:], 6000)
	binary.BigEndian.PutUint16(udp[2:], 6002)
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	copy(udp[8:], r)
	ip := make([]byte, 20, 20+len(udp))
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(udp)))
	copy(ip[12:], []byte{127, 0, 0, 1})
	copy(ip[16:], []byte{127, 0, 0, 1})
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	ip = append(ip, udp...)
	frame := append(make([]byte, 12), 0x08, 0x00)
	frame = append(frame, ip...)
	rec := make([]byte, 16)
	binary.LittleEndian.PutUint32(rec[0:], uint32(at/time.Second))
	binary.LittleEndian.PutUint32(rec[4:], uint32(at%time.Second/time.Microsecond))
	binary.LittleEndian.PutUint32(rec[8:], uint32(len(frame)))
	binary.LittleEndian.PutUint32(rec[12:], uint32(len(frame)))
	w.buf.Write(rec)
	w.buf.Write(frame)
}

// tonePcap is secs seconds of a freq Hz tone as G.711 A-law RTP.
func tonePcap(freq float64, secs int) []byte {
	w := newPcap()
	n := 0
	for i := 0; i < secs*50; i++ {
		payload := make([]byte, 160)
		for j := range payload {
			payload[j] = alawEncode(int16(10000 * math.Sin(2*math.Pi*freq*float64(n)/8000)))
			n++
		}
		w.packet(time.Duration(i)*20*time.Millisecond, 8, uint32(i*160), i == 0, payload)
	}
	return w.buf.Bytes()
}

// dtmfPcap keys in digits as RFC 4733 events (payload type 101).
func dtmfPcap(digits string) []byte {
	w := newPcap()
	at := time.Duration(0)
	for i := 0; i < len(digits); i++ {
		ts := uint32(10000 + i*4000)
		for j := 0; j < 7; j++ {
			end := j >= 4
			w.packet(at, 101, ts, j == 0, dtmfPayload(digits[i], end, uint16(160*(j+1))))
			at += 20 * time.Millisecond
		}
		at += 100 * time.Millisecond
	}
	if len(digits) == 0 {
		w.packet(0, 8, 0, true, make([]byte, 160)) // one silent packet
	}
	return w.buf.Bytes()
}

// sipp runs the tone scenario calling service, keying in pin, in a
// directory holding its pcap files; it returns when SIPp exits.
type sippRun struct {
	cmd  *exec.Cmd
	out  *testenv.LogBuffer
	done chan struct{}
	err  error
}

func (g *gateway) callWithSIPp(t *testing.T, service, pin string, toneHz float64) *sippRun {
	return g.sipp(t, sippCall{service: service, pin: pin, toneHz: toneHz})
}

// sippCall is a SIPp call: to service, keying in pin, playing a tone;
// with recvPort set, the SDP asks for media on that port (a test socket)
// and SIPp sends none.
type sippCall struct {
	service, pin string
	toneHz       float64
	recvPort     int
	opus         bool // offer only Opus (with recvPort)
	tcp          bool // SIP over TCP
}

func (g *gateway) sipp(t *testing.T, o sippCall) *sippRun {
	t.Helper()
	service, pin, toneHz := o.service, o.pin, o.toneHz
	bin := need(t, "sipp")
	dir := t.TempDir()
	scen := filepath.Join(dir, "uac_tone.xml")
	xml, err := os.ReadFile("testdata/uac_tone.xml")
	if err != nil {
		t.Fatal(err)
	}
	if o.recvPort != 0 {
		var keep []string
		for _, line := range strings.Split(string(xml), "\n") {
			if !strings.Contains(line, "play_pcap_audio") {
				keep = append(keep, line)
			}
		}
		x := strings.ReplaceAll(strings.Join(keep, "\n"), "[auto_media_port]", strconv.Itoa(o.recvPort))
		// The test ends the call once it heard enough; give it time.
		xml = []byte(strings.Replace(x, `<pause milliseconds="6000"/>`, `<pause milliseconds="25000"/>`, 1))
	}
	if o.opus {
		x := strings.Replace(string(xml), "RTP/AVP 8 101", "RTP/AVP 96", 1)
		x = strings.Replace(x, "a=rtpmap:8 PCMA/8000", "a=rtpmap:96 opus/48000/2", 1)
		xml = []byte(x)
	}
	if err := os.WriteFile(scen, xml, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tone.pcap"), tonePcap(toneHz, 5), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pin.pcap"), dtmfPcap(pin), 0o644); err != nil {
		t.Fatal(err)
	}
	sipPort := testenv.FreePort(t, "127.0.0.1")
	mediaPort := testenv.FreePort(t, "127.0.0.1") &^ 1
	r := &sippRun{out: &testenv.LogBuffer{}, done: make(chan struct{})}
	r.cmd = exec.Command(bin, "-sf", scen, "-s", service, "-m", "1", "-i", "127.0.0.1", "-p", strconv.Itoa(sipPort),
		"-mp", strconv.Itoa(mediaPort), "-timeout", "30s", "-timeout_error", "-nostdin", "-trace_err",
		net.JoinHostPort("127.0.0.1", strconv.Itoa(g.srv.Addr().Port)))
	if o.tcp {
		r.cmd.Args = append(r.cmd.Args[:len(r.cmd.Args)-1], "-t", "t1", r.cmd.Args[len(r.cmd.Args)-1])
	}
	r.cmd.Dir = dir
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		r.err = r.cmd.Wait()
		close(r.done)
	}()
	t.Cleanup(func() {
		_ = r.cmd.Process.Kill()
		<-r.done
		if t.Failed() {
			t.Logf("sipp output:\n%s", r.out.Tail(30))
			if b, err := os.ReadFile(filepath.Join(dir, filepath.Base(scen[:len(scen)-4])+"_"+strconv.Itoa(r.cmd.Process.Pid)+"_errors.log")); err == nil {
				t.Logf("sipp errors:\n%s", b)
			}
		}
	})
	return r
}
