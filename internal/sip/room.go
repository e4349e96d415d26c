package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/protocol"
	"github.com/rtcloud/rtcloud/pkg/client"
)

// roomLink is the room side of a call: a participant that publishes the
// caller's voice as Opus and receives every other participant's audio,
// decoded to 8 kHz PCM for the mixer.
type roomLink struct {
	client   *client.Client
	log      *slog.Logger
	decoders *decoders

	track *webrtc.TrackLocalStaticRTP
	seq   uint16 // guarded by writeMu
	ts    uint32
	wmu   sync.Mutex

	mu      sync.Mutex // guards sources
	sources map[string]*source

	stop   chan struct{}
	ctx    context.Context // ends when the link closes: in-flight requests give up
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// removed is closed when the room reports this participant gone (the
	// server also sends "closed" and ends the WebSocket then).
	removed       chan struct{}
	removedReason string // set before removed is closed
}

// source is one subscribed track of a call: the decoded PCM waiting to
// be mixed (the decoder is shared, see decoders).
type source struct {
	rt      *client.RemoteTrack
	trackID string
	mu      sync.Mutex
	pcm     []int16
	playing bool // prebuffered; cleared when it runs dry
}

const (
	mixRate     = 8000
	frameLen    = mixRate / 50 // 20 ms
	prebuffer   = 3 * frameLen // jitter absorbed before a source plays
	maxBuffered = mixRate      // beyond 1 s the oldest samples go
)

type roomOptions struct {
	signalURL, token, name, metadata string
	decoders                         *decoders
	media                            client.MediaOptions
	log                              *slog.Logger
	// joined, when set, runs between the join and the publish (tests).
	joined func(*client.Client)
}

// joinRoom connects to the room and publishes the call's track. The room
// may end the new session before the track is published (a kick as soon
// as the participant shows up): that is ErrRemoved with the server's
// reason, never retried. A connection that drops without the session
// being ended is tried once more.
func joinRoom(ctx context.Context, o roomOptions) (*roomLink, error) {
	r, err := tryJoinRoom(ctx, o)
	if errors.Is(err, errConnLost) && ctx.Err() == nil {
		o.log.Warn("SIP call lost its room connection while joining; trying again", "err", err)
		r, err = tryJoinRoom(ctx, o)
	}
	return r, err
}

// errConnLost marks a join whose WebSocket ended before the track was
// published, without the server ending the session.
var errConnLost = errors.New("the room connection ended")

func tryJoinRoom(ctx context.Context, o roomOptions) (*roomLink, error) {
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2},
		"audio", "sip")
	if err != nil {
		return nil, err
	}
	media := o.media
	media.Logger = o.log
	cl, err := client.Connect(ctx, o.signalURL, o.token, client.Options{Name: o.name, Metadata: o.metadata, Media: media, Logger: o.log})
	if err != nil {
		return nil, fmt.Errorf("join the room: %w", err)
	}
	r := &roomLink{client: cl, log: o.log, decoders: o.decoders, track: track, sources: map[string]*source{}, stop: make(chan struct{}),
		removed: make(chan struct{})}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	if o.joined != nil {
		o.joined(cl)
	}
	if _, err := cl.Publish(ctx, client.TrackSpec{Local: []webrtc.TrackLocal{track}, Name: "sip-audio", Source: bus.SourceMicrophone}); err != nil {
		err = publishError(cl, err)
		r.cancel()
		cl.Close()
		return nil, err
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.follow()
	}()
	return r, nil
}

// publishError tells why the first publish failed. When the server ended
// the session meanwhile, it sent "closed" with its reason and then closed
// the WebSocket, so a write fails on a closed connection: the read loop
// has the reason once the connection is done.
func publishError(cl *client.Client, err error) error {
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	select {
	case <-cl.Done():
	case <-t.C:
		return fmt.Errorf("publish: %w", err)
	}
	if reason := cl.ClosedReason(); reason != "" {
		return fmt.Errorf("%w: %s (while publishing: %v)", ErrRemoved, reason, err)
	}
	return fmt.Errorf("publish: %w: %w", errConnLost, err)
}

// writeOpus sends one Opus packet of the caller's voice to the room.
func (r *roomLink) writeOpus(pkt []byte, samples int) {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	r.seq++
	p := rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: r.seq, Timestamp: r.ts}, Payload: pkt}
	r.ts += uint32(samples)
	_ = r.track.WriteRTP(&p)
}

// follow subscribes to the audio of everyone else as tracks come and
// unsubscribes from tracks that go, until the link closes.
func (r *roomLink) follow() {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		r.reconcile()
		select {
		case <-r.stop:
			return
		case <-r.client.Done():
			return
		case ev := <-r.client.Events():
			if ev.Type == protocol.TypeParticipantLeft && ev.Participant != nil && ev.Participant.SessionID == r.client.SessionID() {
				r.removedReason = ev.Reason
				close(r.removed)
				return
			}
		case <-tick.C:
		}
	}
}

func (r *roomLink) reconcile() {
	self := r.client.SessionID()
	want := map[string]bool{}
	for _, t := range r.client.Tracks() {
		if t.Kind == bus.KindAudio && t.SessionID != self {
			want[t.ID] = true
		}
	}
	r.mu.Lock()
	var gone []*source
	for id, s := range r.sources {
		if !want[id] {
			gone = append(gone, s)
			delete(r.sources, id)
		}
	}
	var add []string
	for id := range want {
		if r.sources[id] == nil {
			add = append(add, id)
		}
	}
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	for _, s := range gone {
		_ = r.client.Unsubscribe(ctx, s.rt)
		r.decoders.detach(s.trackID, r)
	}
	for _, id := range add {
		if err := r.subscribe(ctx, id); err != nil {
			r.log.Warn("SIP call cannot hear a track", "track", id, "err", err)
		}
	}
}

func (r *roomLink) subscribe(ctx context.Context, trackID string) error {
	s, st, err := r.decoders.attach(trackID, r)
	if err != nil {
		return err
	}
	rt, err := r.client.Subscribe(ctx, trackID, "")
	if err != nil {
		r.decoders.detach(trackID, r)
		return err
	}
	s.rt = rt
	rt.OnRTP(func(b []byte) {
		var p rtp.Packet
		if p.Unmarshal(b) == nil && len(p.Payload) > 0 {
			st.write(r, p.Payload)
		}
	})
	r.mu.Lock()
	r.sources[trackID] = s
	r.mu.Unlock()
	return nil
}

func (s *source) push(samples []int16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pcm = append(s.pcm, samples...)
	if over := len(s.pcm) - maxBuffered; over > 0 {
		s.pcm = s.pcm[over:]
	}
}

// mix adds 20 ms of every source into out (len frameLen), clipped.
func (r *roomLink) mix(out []int16) {
	var acc [frameLen]int32
	r.mu.Lock()
	for _, s := range r.sources {
		s.mu.Lock()
		if !s.playing && len(s.pcm) >= prebuffer {
			s.playing = true
		}
		if s.playing {
			n := min(len(s.pcm), frameLen)
			for i := 0; i < n; i++ {
				acc[i] += int32(s.pcm[i])
			}
			s.pcm = s.pcm[n:]
			if len(s.pcm) == 0 {
				s.playing = false
			}
		}
		s.mu.Unlock()
	}
	r.mu.Unlock()
	for i := range out {
		out[i] = int16(max(-32768, min(32767, acc[i])))
	}
}

// close leaves the room and stops every decoder.
func (r *roomLink) close() {
	close(r.stop)
	r.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = r.client.Leave(ctx)
	r.wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	for id := range r.sources {
		r.decoders.detach(id, r)
		delete(r.sources, id)
	}
}
