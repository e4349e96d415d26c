// Package sip is the SIP gateway (`rtcloud sip`): phones and conference
// systems call into rooms, and rooms call out to phones. Each call is a
// room participant that publishes the caller's voice as Opus and plays
// the caller the mix of everyone else. Dial rules map the called number
// or URI (and a PIN keyed in as RFC 4733 DTMF) to a namespace and room.
// SIP is parsed by sipgo; G.711 is converted in Go, Opus is encoded and
// decoded by ffmpeg subprocesses (internal/transcode), so the main binary
// needs no cgo.
package sip

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	siplib "github.com/emiago/sipgo/sip"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/config"
	"github.com/rtcloud/rtcloud/pkg/client"
)

// Options configure a Server.
type Options struct {
	Config config.SIP
	Rules  *Rules
	// SigningKey and SigningSecret sign the callers' tokens.
	SigningKey, SigningSecret string
	// Bus, when set, serves outbound call requests (bus.SIPDial).
	Bus *bus.Client
	// Media configures the PeerConnections of calls (tests: loopback).
	Media  client.MediaOptions
	Logger *slog.Logger
}

// Server is the SIP gateway.
type Server struct {
	opts  Options
	log   *slog.Logger
	ua    *sipgo.UserAgent
	srv   *sipgo.Server
	cli   *sipgo.Client
	in    *sipgo.DialogServerCache
	out   *sipgo.DialogClientCache
	ports *ports
	// decoders decode the room tracks calls hear, once per track.
	decoders *decoders
	host     netip.Addr // advertised in Contact and SDP when not routed
	sipPort  int

	udp net.PacketConn
	tcp net.Listener

	mu       sync.Mutex // guards calls, ctx and stopping
	calls    map[string]*call
	ctx      context.Context // set by Run; calls run under it
	stopping bool
	wg       sync.WaitGroup // calls and dial requests
}

// Listen opens the SIP ports (UDP and TCP on the same address).
func Listen(o Options) (*Server, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Server{opts: o, log: o.Logger.With("component", "sip"), calls: map[string]*call{}}
	udp, tcp, err := listenBoth(o.Config.Addr)
	if err != nil {
		return nil, err
	}
	host, _, _ := net.SplitHostPort(o.Config.Addr)
	s.udp, s.tcp, s.sipPort = udp, tcp, udp.LocalAddr().(*net.UDPAddr).Port
	s.host = advertised(o.Config.AdvertiseIP, host)
	if err := s.setup(); err != nil {
		_ = udp.Close()
		_ = tcp.Close()
		return nil, err
	}
	bind := host
	if bind == "" {
		bind = "0.0.0.0"
	}
	s.ports = newPorts(bind, o.Config.RTPPortMin, o.Config.RTPPortMax)
	s.decoders = newDecoders(o.Config.FFmpeg, s.log)
	return s, nil
}

// listenBoth opens UDP and TCP on the same port; with port 0 it tries a
// few ports the kernel picks for UDP until TCP is free on one too.
func listenBoth(addr string) (net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, err
	}
	var lastErr error
	for range 10 {
		udp, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("listen udp %s: %w", addr, err)
		}
		p := udp.LocalAddr().(*net.UDPAddr).Port
		tcp, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err == nil {
			return udp, tcp, nil
		}
		_ = udp.Close()
		lastErr = fmt.Errorf("listen tcp %s: %w", net.JoinHostPort(host, strconv.Itoa(p)), err)
		if port != "0" {
			break
		}
	}
	return nil, nil, lastErr
}

func (s *Server) setup() error {
	var err error
	// sipgo's transport and transaction layers (which log malformed
	// input) log through the gateway's logger, not the global one.
	quiet := s.log.With("layer", "sipgo")
	s.ua, err = sipgo.NewUA(sipgo.WithUserAgent("rtcloud"), sipgo.WithUserAgentHostname(s.host.String()),
		sipgo.WithUserAgentTransportLayerOptions(siplib.WithTransportLayerLogger(quiet)),
		sipgo.WithUserAgentTransactionLayerOptions(siplib.WithTransactionLayerLogger(quiet)))
	if err != nil {
		return err
	}
	if s.srv, err = sipgo.NewServer(s.ua, sipgo.WithServerLogger(s.log)); err != nil {
		return err
	}
	if s.cli, err = sipgo.NewClient(s.ua, sipgo.WithClientLogger(s.log), sipgo.WithClientHostname(s.host.String()),
		sipgo.WithClientPort(s.sipPort)); err != nil {
		return err
	}
	contact := siplib.ContactHeader{Address: siplib.Uri{Scheme: "sip", User: "rtcloud", Host: s.host.String(), Port: s.sipPort}}
	s.in = sipgo.NewDialogServerCache(s.cli, contact)
	s.out = sipgo.NewDialogClientCache(s.cli, contact)
	s.srv.OnInvite(s.onInvite)
	s.srv.OnAck(func(req *siplib.Request, tx siplib.ServerTransaction) { _ = s.in.ReadAck(req, tx) })
	s.srv.OnBye(s.onBye)
	s.srv.OnOptions(func(req *siplib.Request, tx siplib.ServerTransaction) {
		_ = tx.Respond(siplib.NewResponseFromRequest(req, 200, "OK", nil))
	})
	return nil
}

// advertised picks the address for Contact headers and SDP.
func advertised(configured, bindHost string) netip.Addr {
	if a, err := netip.ParseAddr(configured); err == nil {
		return a
	}
	if a, err := netip.ParseAddr(bindHost); err == nil && !a.IsUnspecified() {
		return a
	}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			ip, _ := netip.AddrFromSlice(n.IP.To4())
			return ip
		}
	}
	return netip.MustParseAddr("127.0.0.1")
}

// Addr is the SIP UDP address.
func (s *Server) Addr() *net.UDPAddr { return s.udp.LocalAddr().(*net.UDPAddr) }

// Run serves SIP until ctx ends, then hangs up every call.
func (s *Server) Run(ctx context.Context) error {
	s.mu.Lock()
	s.ctx = ctx
	s.mu.Unlock()
	s.log.Info("SIP gateway listening", "udp", s.udp.LocalAddr().String(), "tcp", s.tcp.Addr().String(),
		"rtp_ports", fmt.Sprintf("%d-%d", s.opts.Config.RTPPortMin, s.opts.Config.RTPPortMax), "contact", s.host.String())
	if s.opts.Bus != nil {
		sub, err := s.serveDial(ctx, s.opts.Bus)
		if err != nil {
			return fmt.Errorf("serve %s: %w", bus.SIPDial, err)
		}
		defer func() { _ = sub.Unsubscribe() }()
	}
	var lwg sync.WaitGroup
	lwg.Add(2)
	go func() { defer lwg.Done(); _ = s.srv.ServeUDP(s.udp) }()
	go func() { defer lwg.Done(); _ = s.srv.ServeTCP(s.tcp) }()
	<-ctx.Done()
	s.mu.Lock()
	s.stopping = true
	s.mu.Unlock()
	s.wg.Wait() // calls see ctx end and hang up
	_ = s.udp.Close()
	_ = s.tcp.Close()
	_ = s.cli.Close()
	_ = s.ua.Close()
	lwg.Wait()
	return nil
}

// Calls lists the calls in progress.
func (s *Server) Calls() []bus.SIPCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]bus.SIPCall, 0, len(s.calls))
	for _, c := range s.calls {
		out = append(out, c.info)
	}
	return out
}

// start runs c under the server; false if the server is stopping.
func (s *Server) start(c *call) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx == nil || s.stopping {
		return false
	}
	s.calls[c.info.CallID] = c
	s.wg.Add(1)
	ctx := s.ctx
	go func() {
		defer s.wg.Done()
		c.run(ctx)
		s.mu.Lock()
		delete(s.calls, c.info.CallID)
		s.mu.Unlock()
	}()
	return true
}

func (s *Server) onInvite(req *siplib.Request, tx siplib.ServerTransaction) {
	log := s.log.With("call_id", callID(req), "from", req.From().Address.String(), "to", req.Recipient.String(),
		"remote", req.Source())
	respond := func(code int, reason string, err error) {
		log.Warn("SIP call refused", "status", code, "err", err)
		_ = tx.Respond(siplib.NewResponseFromRequest(req, code, reason, nil))
	}
	if req.To() != nil && req.To().Params != nil {
		if tag, _ := req.To().Params.Get("tag"); tag != "" {
			respond(488, "Re-INVITE Not Supported", errors.New("re-INVITE in a dialog"))
			return
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	uri := req.Recipient
	rt, err := s.opts.Rules.Match(ctx, uri.User, "sip:"+uri.User+"@"+uri.Host)
	if err != nil {
		respond(404, "Not Found", err)
		return
	}
	rm, err := parseSDP(req.Body())
	if err != nil {
		respond(488, "Not Acceptable Here", err)
		return
	}
	rtpC, rtcpC, port, err := s.ports.alloc()
	if err != nil {
		respond(503, "Service Unavailable", err)
		return
	}
	dlg, err := s.in.ReadInvite(req, tx)
	if err != nil {
		_ = rtpC.Close()
		_ = rtcpC.Close()
		s.ports.release(port)
		respond(400, "Bad Request", err)
		return
	}
	from := req.From().Address.User
	info := bus.SIPCall{CallID: callID(req), Namespace: rt.namespace, Room: rt.room, Identity: callerIdentity(from),
		From: req.From().Address.String(), To: uri.String(), Direction: "inbound", Codec: rm.codec.Name}
	c := newCall(s, info, rt, rm, mediaConns{rtp: rtpC, rtcp: rtcpC, port: port}, log)
	c.name = displayName(req.From().DisplayName, from)
	c.ended = dlg.Context().Done()
	c.bye = dlg.Bye
	answer := answerSDP(s.mediaIP(rm.addr.Addr()), port, rm.codec, uint64(time.Now().Unix()))
	if err := dlg.RespondSDP(answer); err != nil {
		log.Warn("SIP answer failed", "err", err)
		_ = rtpC.Close()
		_ = rtcpC.Close()
		s.ports.release(port)
		return
	}
	if !s.start(c) {
		_ = c.bye(ctx)
		_ = rtpC.Close()
		_ = rtcpC.Close()
		s.ports.release(port)
		return
	}
	log.Info("SIP call answered", "namespace", rt.namespace, "room", rt.room, "codec", rm.codec.Name, "pin", rt.pin != "")
}

func (s *Server) onBye(req *siplib.Request, tx siplib.ServerTransaction) {
	if err := s.in.ReadBye(req, tx); err == nil {
		return
	}
	if err := s.out.ReadBye(req, tx); err == nil {
		return
	}
	_ = tx.Respond(siplib.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
}

func callID(req *siplib.Request) string {
	if h := req.CallID(); h != nil {
		return h.Value()
	}
	return ""
}

// callerIdentity is the participant identity of a caller: "sip-" with
// the caller's user part (letters and digits) and a random suffix, so
// two calls from one number are two participants.
func callerIdentity(user string) string {
	var b strings.Builder
	for _, r := range user {
		if r < 128 && (r == '+' || r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			b.WriteRune(r)
		}
		if b.Len() >= 32 {
			break
		}
	}
	var raw [3]byte
	_, _ = rand.Read(raw[:])
	return "sip-" + b.String() + "-" + hex.EncodeToString(raw[:])
}

func displayName(name, user string) string {
	if name = strings.Trim(name, `" `); name != "" {
		return name
	}
	return user
}

// mediaIP is the address put in SDP for a peer at remote: the configured
// one, else the one that routes to the peer.
func (s *Server) mediaIP(remote netip.Addr) netip.Addr {
	if s.opts.Config.AdvertiseIP != "" {
		return s.host
	}
	return localIP(s.host, remote)
}

// localIP is the address of this machine that routes to remote (the
// kernel picks it; nothing is sent), or fallback.
func localIP(fallback, remote netip.Addr) netip.Addr {
	if !remote.IsValid() || remote.IsUnspecified() {
		return fallback
	}
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(remote, 9)))
	if err != nil {
		return fallback
	}
	defer c.Close()
	a := c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
	if a.IsLoopback() && !remote.IsLoopback() {
		return fallback
	}
	return a
}
