package client

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"github.com/rtcloud/rtcloud/internal/bus"
)

// Codecs of synthetic tracks.
const (
	CodecVP8  = webrtc.MimeTypeVP8
	CodecH264 = webrtc.MimeTypeH264
	CodecOpus = webrtc.MimeTypeOpus
)

// SimulcastRIDs are the rids of the three simulcast encodings, from the
// lowest layer to the highest; the trailer layer is the index.
var SimulcastRIDs = []string{"q", "h", "f"}

// TrackSpec describes a track to publish: either synthetic (Codec set) or
// caller-supplied (Local set; the caller writes the media).
type TrackSpec struct {
	Codec     string // CodecVP8, CodecH264 or CodecOpus for a synthetic track
	Simulcast bool   // three encodings with SimulcastRIDs (video only)
	Name      string // unique per client; generated when empty
	Source    string // bus.SourceCamera, ...; from the kind when empty

	// Synthetic video: frames per second (default 30), bitrate per layer in
	// kbit/s (default 500 single, 150/500/1500 simulcast), keyframe
	// interval in frames (default 3 s worth).
	FPS            int
	KbpsPerLayer   []int
	KeyframeFrames int
	// PacketPayload is the largest RTP payload (default 1100 bytes).
	PacketPayload int
	// Synthetic audio: payload bytes per 20 ms packet (default 100) and
	// the level written in the audio level extension (dBov 0 loudest..127
	// silent; default 30).
	AudioBytes int
	AudioLevel int

	// Local is a caller-supplied track (one, or one per rid for simulcast;
	// all with the same ID and StreamID).
	Local []webrtc.TrackLocal
	// OnKeyframeRequest, for a caller-supplied track, is called on each
	// PLI or FIR the SFU sends (on the track's RTCP reader goroutine).
	OnKeyframeRequest func()
}

func (s *TrackSpec) kind() (webrtc.RTPCodecType, error) {
	if len(s.Local) > 0 {
		return s.Local[0].Kind(), nil
	}
	switch s.Codec {
	case CodecVP8, CodecH264:
		return webrtc.RTPCodecTypeVideo, nil
	case CodecOpus:
		if s.Simulcast {
			return 0, fmt.Errorf("%w: simulcast audio", ErrBadSpec)
		}
		return webrtc.RTPCodecTypeAudio, nil
	}
	return 0, fmt.Errorf("%w: codec %q (want VP8, H264 or opus, or Local tracks)", ErrBadSpec, s.Codec)
}

func (s *TrackSpec) defaults(kind webrtc.RTPCodecType) {
	if s.Source == "" {
		s.Source = bus.SourceCamera
		if kind == webrtc.RTPCodecTypeAudio {
			s.Source = bus.SourceMicrophone
		}
	}
	if s.FPS <= 0 {
		s.FPS = 30
	}
	if len(s.KbpsPerLayer) == 0 {
		s.KbpsPerLayer = []int{500}
		if s.Simulcast {
			s.KbpsPerLayer = []int{150, 500, 1500}
		}
	}
	if s.KeyframeFrames <= 0 {
		s.KeyframeFrames = 3 * s.FPS
	}
	if s.PacketPayload <= 0 {
		s.PacketPayload = 1100
	}
	if s.AudioBytes <= 0 {
		s.AudioBytes = 100
	}
	if s.AudioLevel == 0 {
		s.AudioLevel = 30
	}
}

// LocalTrack is a published track.
type LocalTrack struct {
	spec        TrackSpec
	kind        webrtc.RTPCodecType
	transceiver *webrtc.RTPTransceiver
	layers      []*layerSender // synthetic only

	idMu   sync.Mutex
	id     string
	idSet  chan struct{}
	paused atomic.Bool

	ended chan struct{} // PublishReader tracks: closed when the stream ends
	err   error         // why; written before ended is closed

	stopOnce sync.Once
	stopped  chan struct{} // closed by Unpublish
}

func (t *LocalTrack) stop() {
	t.stopOnce.Do(func() {
		t.paused.Store(true)
		close(t.stopped)
	})
}

// Done is closed when the stream of a PublishReader track ended (nil for
// other tracks); Err says why.
func (t *LocalTrack) Done() <-chan struct{} { return t.ended }

// Err is why the stream of a PublishReader track ended: nil at the end
// of the stream or while it plays.
func (t *LocalTrack) Err() error {
	if t.ended == nil {
		return nil
	}
	select {
	case <-t.ended:
		return t.err
	default:
		return nil
	}
}

func (t *LocalTrack) finish(err error) {
	t.err = err
	close(t.ended)
}

// Name is the track's name, unique within its client.
func (t *LocalTrack) Name() string { return t.spec.Name }

// Kind is "audio" or "video".
func (t *LocalTrack) Kind() string { return t.kind.String() }

// MID is the mid of the track's transceiver.
func (t *LocalTrack) MID() string { return t.transceiver.Mid() }

// ID is the track id the SFU assigned ("" until track_published arrived).
func (t *LocalTrack) ID() string {
	t.idMu.Lock()
	defer t.idMu.Unlock()
	return t.id
}

func (t *LocalTrack) setID(id string) {
	t.idMu.Lock()
	defer t.idMu.Unlock()
	if t.id == "" {
		t.id = id
		close(t.idSet)
	}
}

// SendStats are the counters of one encoding of a synthetic track.
type SendStats struct {
	RID       string
	Packets   uint64
	Bytes     uint64
	Frames    uint64
	Keyframes uint64
	PLIs      uint64 // keyframe requests received (PLI and FIR)
	NACKs     uint64 // NACK packets received
}

// Stats returns one entry per encoding (none for caller-supplied tracks).
func (t *LocalTrack) Stats() []SendStats {
	out := make([]SendStats, len(t.layers))
	for i, l := range t.layers {
		out[i] = SendStats{RID: l.rid, Packets: l.packets.Load(), Bytes: l.bytes.Load(),
			Frames: l.frames.Load(), Keyframes: l.keyframes.Load(), PLIs: l.plis.Load(), NACKs: l.nacks.Load()}
	}
	return out
}

// HeaderExtensionID returns the id negotiated for the RTP header
// extension uri on the track's sender, 0 if none. A caller-supplied
// simulcast track writes the mid and rid extensions itself (see
// URIMid, URIRID), as the SFU tells its encodings apart by them.
func (t *LocalTrack) HeaderExtensionID(uri string) uint8 {
	return headerExtensions(t.transceiver.Sender().GetParameters().HeaderExtensions)[uri]
}

// URIs of the header extensions a simulcast sender writes.
const (
	URIMid = uriMid
	URIRID = uriRID
)

// RequestKeyframe makes every encoding send a keyframe next.
func (t *LocalTrack) RequestKeyframe() {
	for _, l := range t.layers {
		l.keyReq.Store(true)
	}
}

// SetPaused stops or resumes sending synthetic media.
func (t *LocalTrack) SetPaused(p bool) { t.paused.Store(p) }

// addSendTracks adds one sendonly transceiver per spec.
func (p *peer) addSendTracks(specs []TrackSpec, namePrefix string, n *int) ([]*LocalTrack, error) {
	out := make([]*LocalTrack, 0, len(specs))
	for _, spec := range specs {
		kind, err := spec.kind()
		if err != nil {
			return nil, err
		}
		spec.defaults(kind)
		*n++
		if spec.Name == "" {
			spec.Name = fmt.Sprintf("%s%s-%d", namePrefix, kind, *n)
		}
		lt := &LocalTrack{spec: spec, kind: kind, idSet: make(chan struct{}), stopped: make(chan struct{})}
		locals := spec.Local
		if len(locals) == 0 {
			if locals, err = lt.syntheticTracks(fmt.Sprintf("%s-%d", namePrefix, *n)); err != nil {
				return nil, err
			}
		}
		tr, err := p.pc.AddTransceiverFromTrack(locals[0], webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return nil, fmt.Errorf("add transceiver: %w", err)
		}
		if err := preferCodec(tr, locals[0]); err != nil {
			return nil, err
		}
		for _, l := range locals[1:] {
			if err := tr.Sender().AddEncoding(l); err != nil {
				return nil, fmt.Errorf("add encoding: %w", err)
			}
		}
		lt.transceiver = tr
		out = append(out, lt)
	}
	return out, nil
}

// syntheticTracks creates the TrackLocalStaticRTP of each encoding.
func (t *LocalTrack) syntheticTracks(streamID string) ([]webrtc.TrackLocal, error) {
	rids := []string{""}
	if t.spec.Simulcast {
		rids = SimulcastRIDs
	}
	var locals []webrtc.TrackLocal
	for i, rid := range rids {
		var opts []func(*webrtc.TrackLocalStaticRTP)
		if rid != "" {
			opts = append(opts, webrtc.WithRTPStreamID(rid))
		}
		cap := webrtc.RTPCodecCapability{MimeType: t.spec.Codec}
		tr, err := webrtc.NewTrackLocalStaticRTP(cap, t.spec.Name, streamID, opts...)
		if err != nil {
			return nil, fmt.Errorf("new track: %w", err)
		}
		kbps := t.spec.KbpsPerLayer[min(i, len(t.spec.KbpsPerLayer)-1)]
		t.layers = append(t.layers, newLayerSender(tr, &t.spec, uint8(i), rid, kbps))
		locals = append(locals, tr)
	}
	return locals, nil
}

// startTrack starts the RTCP readers of every encoding and, for a
// synthetic track, its generator. Call after the answer is applied.
func (p *peer) startTrack(t *LocalTrack) {
	sender := t.transceiver.Sender()
	encs := sender.GetParameters().Encodings
	for i := range encs {
		rid := encs[i].RID
		var l *layerSender
		if i < len(t.layers) {
			l = t.layers[i]
		}
		p.goWorker(func() { readSenderRTCP(sender, rid, l, t.spec.OnKeyframeRequest) })
	}
	if len(t.layers) == 0 {
		return
	}
	ext := headerExtensions(sender.GetParameters().HeaderExtensions)
	for _, l := range t.layers {
		l.setExtensions(ext, t.transceiver.Mid())
	}
	p.goWorker(func() { p.generate(t) })
}

func headerExtensions(hs []webrtc.RTPHeaderExtensionParameter) map[string]uint8 {
	m := map[string]uint8{}
	for _, h := range hs {
		m[h.URI] = uint8(h.ID)
	}
	return m
}

// readSenderRTCP drains the RTCP of one encoding (interceptors need it)
// and turns PLI and FIR into keyframe requests.
func readSenderRTCP(s *webrtc.RTPSender, rid string, l *layerSender, onKey func()) {
	for {
		var pkts []rtcp.Packet
		var err error
		if rid == "" {
			pkts, _, err = s.ReadRTCP()
		} else {
			pkts, _, err = s.ReadSimulcastRTCP(rid)
		}
		if err != nil {
			return
		}
		if l == nil {
			if onKey != nil && hasKeyframeRequest(pkts) {
				onKey()
			}
			continue
		}
		for _, pk := range pkts {
			switch pk.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				l.plis.Add(1)
				l.keyReq.Store(true)
			case *rtcp.TransportLayerNack:
				l.nacks.Add(1)
			}
		}
	}
}

func hasKeyframeRequest(pkts []rtcp.Packet) bool {
	for _, pk := range pkts {
		switch pk.(type) {
		case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
			return true
		}
	}
	return false
}

// preferCodec offers only the track's codec on its transceiver, so the
// SFU cannot pick another one (the offer would otherwise list every video
// codec, VP8 first).
func preferCodec(tr *webrtc.RTPTransceiver, track webrtc.TrackLocal) error {
	var mime, fmtp string
	switch l := track.(type) {
	case *webrtc.TrackLocalStaticRTP:
		mime, fmtp = l.Codec().MimeType, l.Codec().SDPFmtpLine
	case *webrtc.TrackLocalStaticSample:
		mime, fmtp = l.Codec().MimeType, l.Codec().SDPFmtpLine
	default:
		return nil
	}
	// A codec whose fmtp line is the track's (an H.264 profile, say) goes
	// first, so the answer picks it.
	var prefs, rest []webrtc.RTPCodecParameters
	for _, c := range tr.Sender().GetParameters().Codecs {
		switch {
		case !strings.EqualFold(c.MimeType, mime):
		case fmtp != "" && c.SDPFmtpLine == fmtp:
			prefs = append(prefs, c)
		default:
			rest = append(rest, c)
		}
	}
	prefs = append(prefs, rest...)
	if len(prefs) == 0 {
		return fmt.Errorf("%w: codec %s is not supported", ErrBadSpec, mime)
	}
	if err := tr.SetCodecPreferences(prefs); err != nil {
		return fmt.Errorf("codec preferences: %w", err)
	}
	return nil
}
