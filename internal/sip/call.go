package sip

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/transcode"
)

// call is one SIP call bridged to a room: RTP with the phone on one side,
// a room participant on the other.
type call struct {
	s     *Server
	info  bus.SIPCall
	log   *slog.Logger
	route route
	name  string
	codec Codec

	rtp, rtcp *net.UDPConn
	port      int

	remoteMu   sync.Mutex
	remote     netip.AddrPort // RTP to the phone; follows where its RTP comes from
	remoteRTCP netip.AddrPort

	ended  <-chan struct{}             // the peer ended the dialog (BYE)
	bye    func(context.Context) error // ends the dialog from our side
	digits chan byte

	lastRTP atomic.Int64
	room    atomic.Pointer[roomLink]
	enc     atomic.Pointer[transcode.Encoder] // the phone's G.711 -> Opus
	outEnc  *transcode.Encoder                // mixed room audio -> Opus (Opus calls)
	mixOut  []byte                            // sendAudio's frame buffer; only the mix loop uses it

	outMu   sync.Mutex // guards the outgoing stream
	ssrc    uint32
	seq     uint16
	ts      uint32
	packets uint32
	octets  uint32

	wg sync.WaitGroup
}

func newCall(s *Server, info bus.SIPCall, rt route, rm remoteMedia, conns mediaConns, log *slog.Logger) *call {
	c := &call{s: s, info: info, route: rt, codec: rm.codec, rtp: conns.rtp, rtcp: conns.rtcp, port: conns.port,
		remote: rm.addr, remoteRTCP: rm.rtcp, digits: make(chan byte, 32), ssrc: rand.Uint32(), seq: uint16(rand.Uint32()),
		log: log.With("namespace", rt.namespace, "room", rt.room, "codec", rm.codec.Name)}
	c.lastRTP.Store(time.Now().UnixNano())
	return c
}

type mediaConns struct {
	rtp, rtcp *net.UDPConn
	port      int
}

// run bridges the call until either side ends it, then cleans up.
func (c *call) run(ctx context.Context) {
	c.goLoop(c.readRTP)
	c.goLoop(c.readRTCP)
	reason := c.session(ctx)
	if ctx.Err() != nil {
		reason = errors.New("the gateway is stopping")
	}
	c.log.Info("SIP call ending", "reason", reason)
	select {
	case <-c.ended:
	default:
		bctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		if err := c.bye(bctx); err != nil {
			c.log.Debug("BYE failed", "err", err)
		}
		cancel()
	}
	if r := c.room.Load(); r != nil {
		r.close()
	}
	if e := c.enc.Load(); e != nil {
		e.Close()
	}
	if c.outEnc != nil {
		c.outEnc.Close()
	}
	_ = c.rtp.Close()
	_ = c.rtcp.Close()
	c.wg.Wait()
	c.s.ports.release(c.port)
	c.log.Info("SIP call ended", "sent_packets", c.packets)
}

func (c *call) goLoop(fn func()) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		fn()
	}()
}

// session is the life of an answered call; it returns why it ended.
func (c *call) session(ctx context.Context) error {
	if c.route.pin != "" {
		if err := c.collectPIN(ctx); err != nil {
			c.log.Warn("SIP caller refused", "err", err)
			return err
		}
	}
	if err := c.join(ctx); err != nil {
		if errors.Is(err, ErrRemoved) {
			c.log.Info("SIP call removed from the room while joining", "err", err)
		} else {
			c.log.Warn("SIP call cannot join the room", "err", err)
		}
		return err
	}
	room := c.room.Load()
	c.log.Info("SIP caller joined the room", "participant", room.client.SessionID(), "identity", c.info.Identity)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	frame := make([]int16, frameLen)
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.ended:
			return errors.New("the phone hung up (BYE)")
		case <-room.client.Done():
			return fmt.Errorf("%w: %s", ErrRemoved, room.client.ClosedReason())
		case <-room.removed:
			return fmt.Errorf("%w: %s", ErrRemoved, room.removedReason)
		case <-tick.C:
		}
		if time.Since(time.Unix(0, c.lastRTP.Load())) > c.s.opts.Config.RTPTimeout {
			return fmt.Errorf("%w for %s", ErrRTPTimeout, c.s.opts.Config.RTPTimeout)
		}
		room.mix(frame)
		c.sendAudio(frame)
		if n%250 == 0 {
			c.sendReport()
		}
	}
}

// collectPIN reads DTMF keys until the PIN's length or "#".
func (c *call) collectPIN(ctx context.Context) error {
	t := time.NewTimer(c.s.opts.Config.PINTimeout)
	defer t.Stop()
	var got []byte
	for {
		select {
		case k := <-c.digits:
			if k == '#' {
				if string(got) == c.route.pin {
					return nil
				}
				return fmt.Errorf("%w: %d keys", ErrWrongPIN, len(got))
			}
			got = append(got, k)
			if len(got) == len(c.route.pin) {
				if string(got) == c.route.pin {
					c.log.Info("SIP caller keyed in the right PIN")
					return nil
				}
				return fmt.Errorf("%w: %d keys", ErrWrongPIN, len(got))
			}
		case <-t.C:
			return fmt.Errorf("%w: no PIN within %s", ErrWrongPIN, c.s.opts.Config.PINTimeout)
		case <-c.ended:
			return errors.New("the phone hung up before the PIN")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// join enters the room and starts the transcoders.
func (c *call) join(ctx context.Context) error {
	o := c.s.opts
	tok, err := auth.Mint(auth.TokenOptions{Key: o.SigningKey, Secret: o.SigningSecret, Identity: c.info.Identity, Name: c.name,
		Grant: auth.Grant{Namespace: c.route.namespace, Room: c.route.room, Publish: true, Subscribe: true}})
	if err != nil {
		return err
	}
	if c.codec.Name == "opus" {
		c.outEnc, err = transcode.NewEncoder(transcode.EncoderOptions{FFmpeg: o.Config.FFmpeg, Kbps: 32, Voice: true,
			Input: transcode.Input{SampleRate: mixRate, Channels: 1}, Logger: c.log, OnPacket: c.sendOpus})
		if err != nil {
			return err
		}
	}
	jctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	room, err := joinRoom(jctx, roomOptions{signalURL: o.Config.SignalURL, token: tok, name: c.name, decoders: c.s.decoders,
		metadata: `{"source":"sip"}`, media: o.Media, log: c.log})
	if err != nil {
		return err
	}
	if c.codec.Name != "opus" {
		enc, err := transcode.NewEncoder(transcode.EncoderOptions{FFmpeg: o.Config.FFmpeg, Kbps: 24, Voice: true,
			Input: transcode.Input{SampleRate: mixRate, Channels: 1}, Logger: c.log, OnPacket: room.writeOpus})
		if err != nil {
			room.close()
			return err
		}
		c.enc.Store(enc)
	}
	c.room.Store(room)
	return nil
}

// readRTP takes the phone's RTP: audio to the room, DTMF to the PIN
// reader. It ends when the socket closes.
func (c *call) readRTP() {
	buf := make([]byte, 1500)
	pcm := make([]byte, 0, 2*1000)
	var dtmf dtmfReader
	var p rtp.Packet
	for {
		n, from, err := c.rtp.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		if p.Unmarshal(buf[:n]) != nil {
			continue
		}
		c.lastRTP.Store(time.Now().UnixNano())
		c.remoteMu.Lock()
		c.remote = from // symmetric RTP: answer where it comes from
		c.remoteMu.Unlock()
		switch {
		case c.codec.HasDT && p.PayloadType == c.codec.DTMF:
			if k, ok := dtmf.key(p.Timestamp, p.Payload); ok {
				select {
				case c.digits <- k:
				default:
				}
			}
		case p.PayloadType != c.codec.PT:
		case c.codec.Name == "opus":
			if r := c.room.Load(); r != nil {
				r.writeOpus(p.Payload, transcode.OpusSamples(p.Payload))
			}
		default:
			if e := c.enc.Load(); e != nil && len(p.Payload) <= 1000 {
				pcm = decodeG711(pcm[:0], p.Payload, c.codec.Name == "PCMA")
				_ = e.Write(pcm)
			}
		}
	}
}

// readRTCP drains the phone's RTCP.
func (c *call) readRTCP() {
	buf := make([]byte, 1500)
	for {
		if _, _, err := c.rtcp.ReadFromUDPAddrPort(buf); err != nil {
			return
		}
	}
}

func decodeG711(dst, payload []byte, alaw bool) []byte {
	table := &ulawTable
	if alaw {
		table = &alawTable
	}
	for _, b := range payload {
		dst = binary.LittleEndian.AppendUint16(dst, uint16(table[b]))
	}
	return dst
}

// sendAudio sends one 20 ms frame of the room's mix to the phone. The
// encoder's Write and send copy the frame out before returning, so one
// buffer serves every frame.
func (c *call) sendAudio(frame []int16) {
	b := c.mixOut[:0]
	if c.codec.Name == "opus" {
		for _, s := range frame {
			b = binary.LittleEndian.AppendUint16(b, uint16(s))
		}
		c.mixOut = b
		_ = c.outEnc.Write(b)
		return
	}
	encode := ulawEncode
	if c.codec.Name == "PCMA" {
		encode = alawEncode
	}
	for _, s := range frame {
		b = append(b, encode(s))
	}
	c.mixOut = b
	c.send(b, uint32(len(frame)))
}

func (c *call) sendOpus(pkt []byte, samples int) { c.send(pkt, uint32(samples)) }

func (c *call) send(payload []byte, samples uint32) {
	c.outMu.Lock()
	c.seq++
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: c.codec.PT, SequenceNumber: c.seq, Timestamp: c.ts, SSRC: c.ssrc},
		Payload: payload}
	c.ts += samples
	c.packets++
	c.octets += uint32(len(payload))
	c.outMu.Unlock()
	b, err := p.Marshal()
	if err != nil {
		return
	}
	c.remoteMu.Lock()
	to := c.remote
	c.remoteMu.Unlock()
	_, _ = c.rtp.WriteToUDPAddrPort(b, to)
}

// sendReport sends an RTCP sender report to the phone.
func (c *call) sendReport() {
	c.outMu.Lock()
	sr := rtcp.SenderReport{SSRC: c.ssrc, NTPTime: ntpTime(time.Now()), RTPTime: c.ts, PacketCount: c.packets, OctetCount: c.octets}
	c.outMu.Unlock()
	b, err := sr.Marshal()
	if err != nil {
		return
	}
	c.remoteMu.Lock()
	to := c.remoteRTCP
	c.remoteMu.Unlock()
	_, _ = c.rtcp.WriteToUDPAddrPort(b, to)
}

func ntpTime(t time.Time) uint64 {
	secs := uint64(t.Unix()) + 2208988800
	frac := uint64(t.Nanosecond()) * (1 << 32) / 1e9
	return secs<<32 | frac
}
