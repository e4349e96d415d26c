// Package icemux owns the media node's single UDP socket and single TCP
// listener. Every PeerConnection of the node shares them: ICE demultiplexes
// UDP datagrams by ufrag and then by remote address, and ICE-TCP
// connections by the ufrag of their first STUN request.
//
// Candidates always carry the configured advertise addresses and the one
// port, whatever interfaces the machine has. To get there the mux presents a
// single canonical local address to ICE (the bind address, or 127.0.0.1 when
// bound to all addresses) and a rewrite rule replaces it with the advertise
// addresses.
package icemux

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"syscall"

	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"
)

// Options configure a Mux.
type Options struct {
	// Port is the UDP and TCP port; 0 picks a port free for both.
	Port int
	// BindIP is the address to listen on; empty means all addresses.
	BindIP string
	// AdvertiseIPs are the addresses put into candidates; empty means the
	// machine's non-loopback IPv4 addresses, or 127.0.0.1 if there is none.
	AdvertiseIPs []string
	// LoggerFactory is used for Pion's loggers; nil logs errors only.
	LoggerFactory logging.LoggerFactory
	// NoBatch sends every UDP packet with its own sendto, even inside
	// BeginBatch/EndBatch (to measure what batching gains).
	NoBatch bool
	// TCPWriteBuffer is how many bytes each ICE-TCP connection queues for
	// a peer that reads slowly; beyond it writes fail at once (the packet
	// is dropped) instead of blocking the writer. Default 4 MiB.
	TCPWriteBuffer int
	// OnTCPRecovered, when set, is called (on a goroutine of the mux) when
	// an ICE-TCP peer whose packets were dropped has caught up again, with
	// its address and how many packets it lost.
	OnTCPRecovered func(remote net.Addr, dropped uint64)
}

// Mux is one UDP socket and one TCP listener on the same port number.
type Mux struct {
	udpConn   *net.UDPConn
	batch     *batchConn // nil with NoBatch
	tcpLn     net.Listener
	udpMux    *udpMux
	tcpMux    ice.TCPMux
	port      int
	canonical net.IP
	advertise []string

	tcp         tcpConns
	tcpDropped  atomic.Uint64
	onRecovered func(net.Addr, uint64)
}

// Listen opens the UDP socket and the TCP listener.
func Listen(o Options) (*Mux, error) {
	bind := net.IPv4zero
	if o.BindIP != "" {
		bind = net.ParseIP(o.BindIP)
		if bind == nil {
			return nil, fmt.Errorf("%w: bind %q", ErrBadAddress, o.BindIP)
		}
	}
	advertise, err := advertiseIPs(o.AdvertiseIPs)
	if err != nil {
		return nil, err
	}
	udpConn, tcpLn, err := listenBoth(bind, o.Port)
	if err != nil {
		return nil, err
	}
	canonical := bind
	if bind.IsUnspecified() {
		canonical = net.IPv4(127, 0, 0, 1)
	}
	port := udpConn.LocalAddr().(*net.UDPAddr).Port
	lf := o.LoggerFactory
	if lf == nil {
		lf = logging.NewDefaultLoggerFactory()
		lf.(*logging.DefaultLoggerFactory).DefaultLogLevel = logging.LogLevelError
	}
	var conn net.PacketConn = udpConn
	var batch *batchConn
	if !o.NoBatch {
		batch = newBatchConn(udpConn)
		conn = batch
	}
	inner := ice.NewUDPMuxDefault(ice.UDPMuxParams{UDPConn: conn, Logger: lf.NewLogger("udpmux")})
	m := &Mux{
		udpConn:   udpConn,
		batch:     batch,
		tcpLn:     tcpLn,
		port:      port,
		canonical: canonical,
		advertise: advertise,
		udpMux: &udpMux{
			inner: inner,
			local: &net.UDPAddr{IP: canonical, Port: port},
			real:  udpConn.LocalAddr(),
		},
	}
	if o.TCPWriteBuffer <= 0 {
		o.TCPWriteBuffer = 4 << 20
	}
	m.tcp.conns = map[*queuedConn]struct{}{}
	m.onRecovered = o.OnTCPRecovered
	m.tcpMux = ice.NewTCPMuxDefault(ice.TCPMuxParams{
		// Each connection's writes go into a bounded queue drained by its
		// own goroutine (tcpqueue.go): a slow ICE-TCP peer loses packets,
		// counted, and never blocks the writer.
		Listener:       &canonicalListener{Listener: tcpLn, ip: canonical, m: m, limit: o.TCPWriteBuffer},
		Logger:         lf.NewLogger("tcpmux"),
		ReadBufferSize: 64,
	})
	return m, nil
}

// listenBoth opens UDP and TCP on the same port, retrying with another
// free port when port is 0 and the TCP side is taken.
func listenBoth(bind net.IP, port int) (*net.UDPConn, net.Listener, error) {
	var lastErr error
	for range 20 {
		udpConn, err := net.ListenUDP("udp", &net.UDPAddr{IP: bind, Port: port})
		if err != nil {
			return nil, nil, fmt.Errorf("%w: udp %s: %w", ErrListen, net.JoinHostPort(bind.String(), strconv.Itoa(port)), err)
		}
		p := udpConn.LocalAddr().(*net.UDPAddr).Port
		_ = udpConn.SetReadBuffer(4 << 20)
		_ = udpConn.SetWriteBuffer(4 << 20)
		tcpLn, err := net.ListenTCP("tcp", &net.TCPAddr{IP: bind, Port: p})
		if err == nil {
			return udpConn, tcpLn, nil
		}
		_ = udpConn.Close()
		lastErr = err
		if port != 0 || !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
	}
	return nil, nil, fmt.Errorf("%w: tcp: %w", ErrListen, lastErr)
}

// advertiseIPs validates the configured addresses or finds the machine's.
func advertiseIPs(cfg []string) ([]string, error) {
	if len(cfg) > 0 {
		out := make([]string, 0, len(cfg))
		for _, s := range cfg {
			ip := net.ParseIP(s)
			if ip == nil {
				return nil, fmt.Errorf("%w: advertise %q", ErrBadAddress, s)
			}
			out = append(out, ip.String())
		}
		return out, nil
	}
	var out []string
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.To4() == nil || ipn.IP.IsLoopback() || ipn.IP.IsLinkLocalUnicast() {
			continue
		}
		out = append(out, ipn.IP.String())
	}
	if len(out) == 0 {
		out = []string{"127.0.0.1"}
	}
	return out, nil
}

// Port is the UDP and TCP port.
func (m *Mux) Port() int { return m.port }

// AdvertiseIPs are the addresses candidates carry.
func (m *Mux) AdvertiseIPs() []string { return append([]string(nil), m.advertise...) }

// UDPConn is the one UDP socket (for tests and metrics).
func (m *Mux) UDPConn() *net.UDPConn { return m.udpConn }

// Configure makes se gather exactly one UDP and one TCP host candidate per
// advertise address, all on the shared port.
func (m *Mux) Configure(se *webrtc.SettingEngine) error {
	se.SetICEUDPMux(m.udpMux)
	se.SetICETCPMux(m.tcpMux)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(true)
	canonical := m.canonical
	se.SetIPFilter(func(ip net.IP) bool { return ip.Equal(canonical) })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeTCP4})
	return se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
		External:        m.advertise,
		Local:           canonical.String(),
		AsCandidateType: webrtc.ICECandidateTypeHost,
		Mode:            webrtc.ICEAddressRewriteReplace,
	})
}

// BeginBatch starts collecting UDP writes for one sendmmsg; EndBatch sends
// them. The forwarding path wraps each fan-out in them. Both do nothing
// with NoBatch.
func (m *Mux) BeginBatch() {
	if m.batch != nil {
		m.batch.BeginBatch()
	}
}

// EndBatch ends a batch begun with BeginBatch.
func (m *Mux) EndBatch() {
	if m.batch != nil {
		m.batch.EndBatch()
	}
}

// Close closes both sockets; every PeerConnection using them fails.
func (m *Mux) Close() error {
	err := m.udpMux.Close()
	if terr := m.tcpMux.Close(); err == nil {
		err = terr
	}
	m.closeTCP()
	return err
}

// udpMux presents the canonical local address to ICE and hands its
// requests to the real mux.
type udpMux struct {
	inner *ice.UDPMuxDefault
	local *net.UDPAddr
	real  net.Addr
}

func (u *udpMux) Close() error { return u.inner.Close() }

func (u *udpMux) GetConn(ufrag string, _ net.Addr) (net.PacketConn, error) {
	return u.inner.GetConn(ufrag, u.real)
}

func (u *udpMux) RemoveConnByUfrag(ufrag string) { u.inner.RemoveConnByUfrag(ufrag) }

func (u *udpMux) GetListenAddresses() []net.Addr { return []net.Addr{u.local} }

// canonicalListener reports the canonical address as the local address of
// every accepted connection, so the TCP mux finds the agent's connection
// whichever local address a client dialled.
type canonicalListener struct {
	net.Listener
	ip    net.IP
	m     *Mux
	limit int // bytes queued per connection
}

func (l *canonicalListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	port := 0
	if ta, ok := c.LocalAddr().(*net.TCPAddr); ok {
		port = ta.Port
	}
	q := newQueuedConn(&canonicalConn{Conn: c, local: &net.TCPAddr{IP: l.ip, Port: port}}, l.m, l.limit)
	if !l.m.track(q) { // the mux is closing
		_ = q.Close()
		<-q.done
	}
	return q, nil
}

type canonicalConn struct {
	net.Conn
	local net.Addr
}

func (c *canonicalConn) LocalAddr() net.Addr { return c.local }
