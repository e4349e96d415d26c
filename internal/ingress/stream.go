package ingress

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/pion/webrtc/v4"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/protocol"
	"github.com/rtcloud/rtcloud/internal/transcode"
	"github.com/rtcloud/rtcloud/pkg/client"
)

// tracks are the stream's tracks rtcloud can carry.
type tracks struct {
	h264 *format.H264
	aac  *format.MPEG4Audio
	opus *format.Opus
}

func pickTracks(all []format.Format) (tracks, error) {
	var t tracks
	for _, f := range all {
		switch f := f.(type) {
		case *format.H264:
			t.h264 = f
		case *format.MPEG4Audio:
			t.aac = f
		case *format.Opus:
			t.opus = f
		default:
			return t, fmt.Errorf("%w: %s (send H.264 video with AAC or Opus audio)", ErrUnsupported, f.Codec())
		}
	}
	if t.h264 == nil && t.aac == nil && t.opus == nil {
		return t, fmt.Errorf("%w: the stream has no tracks", ErrUnsupported)
	}
	if t.aac != nil && t.aac.Config == nil {
		return t, fmt.Errorf("%w: AAC without a configuration", ErrUnsupported)
	}
	return t, nil
}

// ingest reads the stream's tracks, joins the room and forwards media
// until the encoder stops, the connection breaks, or the participant is
// removed from the room.
func (s *Server) ingest(ctx context.Context, sc *gortmplib.ServerConn, c net.Conn, t target, log *slog.Logger) error {
	r := &gortmplib.Reader{Conn: sc}
	if err := r.Initialize(); err != nil {
		if strings.Contains(err.Error(), "unsupported") {
			return fmt.Errorf("%w: %v (send H.264 video with AAC or Opus audio)", ErrUnsupported, err)
		}
		return fmt.Errorf("read stream headers: %w", err)
	}
	tr, err := pickTracks(r.Tracks())
	if err != nil {
		return err
	}
	fmtp := ""
	if tr.h264 != nil {
		sps, _ := tr.h264.SafeParams()
		if fmtp, err = h264Fmtp(sps); err != nil {
			return err
		}
	}
	p, err := s.join(ctx, t, tr, fmtp, log)
	if err != nil {
		return err
	}
	defer p.close(log)
	if err := p.attach(r, tr, s.encoderOptions(log)); err != nil {
		return err
	}
	log.Info("RTMP stream joined the room", "participant", p.client.SessionID(), "video", fmtp,
		"audio", audioName(tr))

	// The participant leaving the room (kicked, room closed) ends the
	// stream: closing the connection stops the read loop.
	stopped := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-p.client.Done():
				_ = c.Close()
				return
			case ev := <-p.client.Events():
				// A kick closes the session on its node; the room says so.
				if ev.Type == protocol.TypeParticipantLeft && ev.Participant != nil &&
					ev.Participant.SessionID == p.client.SessionID() {
					p.setErr(fmt.Errorf("removed from the room: %s", ev.Reason))
					_ = c.Close()
					return
				}
			case <-stopped:
				return
			}
		}
	}()
	defer func() { close(stopped); wg.Wait() }()
	for {
		_ = c.SetReadDeadline(time.Now().Add(readTimeout))
		if err := r.Read(); err != nil {
			if perr := p.err(); perr != nil {
				return perr
			}
			select {
			case <-p.client.Done():
				return fmt.Errorf("removed from the room: %s", p.client.ClosedReason())
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return fmt.Errorf("no data for %s: %w", readTimeout, err)
			}
			return fmt.Errorf("encoder disconnected: %w", err)
		}
		if err := p.err(); err != nil {
			return err
		}
	}
}

func audioName(tr tracks) string {
	switch {
	case tr.aac != nil:
		return "AAC transcoded to Opus"
	case tr.opus != nil:
		return "Opus"
	}
	return "none"
}

// participant is the room side of one stream.
type participant struct {
	client *client.Client
	video  *videoSender // the stream as sent (the high layer with simulcast)
	// layerTracks are the video encodings' tracks, lowest first; with
	// simulcast, scaled encodes all but the last.
	layerTracks []*webrtc.TrackLocalStaticRTP
	scaled      *scaled
	pendingRID  func([]*videoSender) // sets the lower layers' rid extensions
	audio       *audioSender
	enc         *transcode.Encoder

	mu      sync.Mutex
	lastErr error
}

// extraPT are payload types of the H.264 profiles the client does not
// register by default (the SFU uses the same).
var extraPT = map[string]webrtc.PayloadType{"42001f": 104, "640c1f": 106}

func (s *Server) join(ctx context.Context, t target, tr tracks, fmtp string, log *slog.Logger) (*participant, error) {
	media := s.opts.Media
	media.Logger = log
	var specs []client.TrackSpec
	p := &participant{}
	if tr.h264 != nil {
		capab := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: fmtp,
			RTCPFeedback: []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}}}
		if pt, ok := extraPT[fmtp[len(fmtp)-6:]]; ok {
			media.ExtraCodecs = append(media.ExtraCodecs, webrtc.RTPCodecParameters{RTPCodecCapability: capab, PayloadType: pt})
		}
		locals, err := s.videoTracks(capab)
		if err != nil {
			return nil, err
		}
		sps, pps := tr.h264.SafeParams()
		p.video = &videoSender{track: locals[len(locals)-1], sps: sps, pps: pps}
		p.layerTracks = locals
		local := make([]webrtc.TrackLocal, len(locals))
		for i, l := range locals {
			local[i] = l
		}
		specs = append(specs, client.TrackSpec{Local: local, Name: "rtmp-video", Source: bus.SourceCamera,
			OnKeyframeRequest: func() { p.video.keyReqs.Add(1) }})
	}
	if tr.aac != nil || tr.opus != nil {
		track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2},
			"audio", "rtmp")
		if err != nil {
			return nil, err
		}
		p.audio = &audioSender{track: track}
		specs = append(specs, client.TrackSpec{Local: []webrtc.TrackLocal{track}, Name: "rtmp-audio", Source: bus.SourceMicrophone})
	}
	jctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	name := t.name
	if name == "" {
		name = t.identity
	}
	cl, err := client.Connect(jctx, s.opts.Config.SignalURL, t.token, client.Options{Name: name, Media: media, Logger: log,
		Metadata: `{"source":"rtmp"}`})
	if err != nil {
		return nil, fmt.Errorf("join the room: %w", err)
	}
	p.client = cl
	lts, err := cl.Publish(jctx, specs...)
	if err != nil {
		p.close(log)
		return nil, fmt.Errorf("publish: %w", err)
	}
	p.simulcastIDs(lts)
	select {
	case <-cl.Connected():
	case <-jctx.Done():
		p.close(log)
		return nil, fmt.Errorf("media connection to the SFU: %w", jctx.Err())
	}
	return p, nil
}

// attach registers the media callbacks and starts the AAC transcoder.
func (p *participant) attach(r *gortmplib.Reader, tr tracks, eo transcode.EncoderOptions) error {
	if tr.h264 != nil {
		if len(p.layerTracks) > 1 {
			sc, err := startScaled(eo.FFmpeg, fmtpOf(p.layerTracks[0]), p.layerTracks, p.setErr)
			if err != nil {
				return err
			}
			p.scaled = sc
			if p.pendingRID != nil {
				p.pendingRID(sc.senders)
			}
		}
		r.OnDataH264(tr.h264, func(pts, _ time.Duration, au [][]byte) {
			p.setErr(p.video.writeAU(pts, au))
			if b := p.video.lastSent(); b != nil && p.scaled != nil {
				if err := p.scaled.feed(pts, b); err != nil {
					p.setErr(fmt.Errorf("simulcast transcoder: %w", err))
				}
			}
		})
	}
	switch {
	case tr.opus != nil:
		r.OnDataOpus(tr.opus, func(_ time.Duration, pkt []byte) {
			p.setErr(p.audio.write(pkt, transcode.OpusSamples(pkt)))
		})
	case tr.aac != nil:
		return p.startAAC(r, tr.aac, eo)
	}
	return nil
}

func (p *participant) startAAC(r *gortmplib.Reader, f *format.MPEG4Audio, eo transcode.EncoderOptions) error {
	cfg := f.Config
	eo.Input = transcode.Input{AAC: true}
	eo.OnPacket = func(pkt []byte, samples int) { p.setErr(p.audio.write(pkt, samples)) }
	enc, err := transcode.NewEncoder(eo)
	if err != nil {
		return err
	}
	p.enc = enc
	r.OnDataMPEG4Audio(f, func(_ time.Duration, au []byte) {
		pkts := mpeg4audio.ADTSPackets{{Type: cfg.Type, SampleRate: cfg.SampleRate, ChannelConfig: cfg.ChannelConfig, AU: au}}
		b, err := pkts.Marshal()
		if err != nil {
			return // an AU too large for ADTS: drop it
		}
		if err := enc.Write(b); err != nil {
			p.setErr(fmt.Errorf("AAC transcoder: %w", err))
		}
	})
	return nil
}

// videoTracks returns the video track, or with ingress.simulcast the
// tracks of its three encodings (q, h, f).
func (s *Server) videoTracks(capab webrtc.RTPCodecCapability) ([]*webrtc.TrackLocalStaticRTP, error) {
	if s.opts.Config.Simulcast {
		return simulcastTracks(capab)
	}
	t, err := webrtc.NewTrackLocalStaticRTP(capab, "video", "rtmp")
	if err != nil {
		return nil, err
	}
	return []*webrtc.TrackLocalStaticRTP{t}, nil
}

// simulcastIDs gives the senders of a simulcast video track the mid and
// rid header extensions (ids known once the track is negotiated).
func (p *participant) simulcastIDs(lts []*client.LocalTrack) {
	if len(p.layerTracks) < 2 || len(lts) == 0 || lts[0].Kind() != bus.KindVideo {
		return
	}
	lt := lts[0]
	midID, ridID := lt.HeaderExtensionID(client.URIMid), lt.HeaderExtensionID(client.URIRID)
	p.video.setRID(midID, lt.MID(), ridID, client.SimulcastRIDs[len(client.SimulcastRIDs)-1])
	p.pendingRID = func(senders []*videoSender) {
		for i, v := range senders {
			v.setRID(midID, lt.MID(), ridID, client.SimulcastRIDs[i])
		}
	}
}

func fmtpOf(t *webrtc.TrackLocalStaticRTP) string { return t.Codec().SDPFmtpLine }

func (s *Server) encoderOptions(log *slog.Logger) transcode.EncoderOptions {
	return transcode.EncoderOptions{FFmpeg: s.opts.Config.FFmpeg, Kbps: s.opts.Config.AudioKbps, Logger: log}
}

func (p *participant) setErr(err error) {
	if err == nil {
		return
	}
	p.mu.Lock()
	if p.lastErr == nil {
		p.lastErr = err
	}
	p.mu.Unlock()
}

func (p *participant) err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastErr
}

// close leaves the room and stops the transcoder.
func (p *participant) close(log *slog.Logger) {
	if p.enc != nil {
		p.enc.Close()
	}
	if p.scaled != nil {
		p.scaled.scaler.Close()
	}
	if p.client == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = p.client.Leave(ctx)
	attrs := []any{"participant", p.client.SessionID()}
	if p.video != nil {
		attrs = append(attrs, "frames", p.video.frames.Load(), "keyframes", p.video.keyframes.Load(),
			"keyframe_requests", p.video.keyReqs.Load())
	}
	if p.audio != nil {
		attrs = append(attrs, "audio_packets", p.audio.packets.Load())
	}
	log.Info("RTMP participant left the room", attrs...)
}
