package sfu

import (
	"bufio"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// udpSocketsOnPort counts this process's UDP sockets bound to port.
func udpSocketsOnPort(t *testing.T, port int) int {
	t.Helper()
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || !strings.Contains(fields[1], ":") {
				continue
			}
			hexPort := fields[1][strings.LastIndexByte(fields[1], ':')+1:]
			p, err := strconv.ParseUint(hexPort, 16, 16)
			if err == nil && int(p) == port {
				inodes[fields[9]] = true
			}
		}
		fh.Close()
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err != nil || !strings.HasPrefix(link, "socket:[") {
			continue
		}
		if inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] {
			n++
		}
	}
	return n
}

// TestTwentyClientsOneUDPSocket: 20 connected clients share the one UDP
// socket of the node's media port.
func TestTwentyClientsOneUDPSocket(t *testing.T) {
	env := newEnv(t)
	var peers []*testPeer
	for i := range 20 {
		p := env.newPeer(fmt.Sprintf("c%02d", i), peerOpts{})
		p.addSend(webrtc.MimeTypeOpus)
		if err := p.join("many", nil); err != nil {
			t.Fatal(err)
		}
		peers = append(peers, p)
	}
	waitFor(t, 15*time.Second, "20 clients connected", func() bool {
		for _, p := range peers {
			if !p.connected() {
				return false
			}
		}
		return true
	})
	if got := udpSocketsOnPort(t, env.node.MediaPort()); got != 1 {
		t.Fatalf("%d UDP sockets on media port %d, want 1", got, env.node.MediaPort())
	}
	if info := env.node.Info(); info.Load.Participants != 20 || info.Load.Tracks != 20 || info.Load.Rooms != 1 {
		t.Fatalf("load %+v, want 20 participants, 20 tracks, 1 room", info.Load)
	}
}

// TestICETCP: a client that can only use TCP connects through the TCP
// listener on the media port.
func TestICETCP(t *testing.T) {
	env := newEnv(t)
	p := env.newPeer("tcp", peerOpts{tcpOnly: true})
	p.addSend(webrtc.MimeTypeOpus)
	if err := p.join("tcp", nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "TCP client connected", p.connected)
	pair, err := p.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil {
		t.Fatalf("no selected pair: %v", err)
	}
	if pair.Remote.Protocol != webrtc.ICEProtocolTCP || int(pair.Remote.Port) != env.node.MediaPort() {
		t.Fatalf("selected remote candidate %s, want TCP on port %d", pair.Remote, env.node.MediaPort())
	}
}

// TestGarbageUDP: random datagrams on the media port do not stop the node
// from serving a new client.
func TestGarbageUDP(t *testing.T) {
	env := newEnv(t)
	c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", env.node.MediaPort()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 1200)
	for i := range 500 {
		_, _ = rand.Read(buf)
		switch i % 4 {
		case 0: // looks like STUN
			buf[0], buf[1] = 0x00, 0x01
		case 1: // looks like DTLS
			buf[0] = 22
		case 2: // looks like RTP
			buf[0] = 0x80
		}
		_, _ = c.Write(buf[:1+i%len(buf)])
	}
	tc, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", env.node.MediaPort()))
	if err == nil {
		_, _ = tc.Write(buf)
		tc.Close()
	}
	p := env.newPeer("after", peerOpts{})
	p.addSend(webrtc.MimeTypeOpus)
	if err := p.join("garbage", nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "client connected after garbage", p.connected)
}
