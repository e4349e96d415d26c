package sip

import (
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/rtcloud/rtcloud/internal/transcode"
)

// decoders shares one Opus decoder per room track among the calls of a
// gateway: every call hearing track T subscribes to it (each call is its
// own participant), but only one of them, the feeder, passes T's packets
// to T's decoder, whose PCM goes to every call's buffer. A room of N
// tracks costs N decoders, not one per call and track.
//
// Lock order: decoders.mu, then a source's mu.
type decoders struct {
	ffmpeg string
	log    *slog.Logger

	mu     sync.Mutex
	tracks map[string]*sharedTrack
}

type sharedTrack struct {
	dec    *transcode.Decoder
	outs   map[*roomLink]*source // guarded by decoders.mu
	feeder atomic.Pointer[roomLink]
}

func newDecoders(ffmpeg string, log *slog.Logger) *decoders {
	return &decoders{ffmpeg: ffmpeg, log: log, tracks: map[string]*sharedTrack{}}
}

// attach gives r a buffer of trackID's decoded audio, starting the
// track's decoder if r is its first listener.
func (d *decoders) attach(trackID string, r *roomLink) (*source, *sharedTrack, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.tracks[trackID]
	if st == nil {
		st = &sharedTrack{outs: map[*roomLink]*source{}}
		dec, err := transcode.NewDecoder(transcode.DecoderOptions{FFmpeg: d.ffmpeg, SampleRate: mixRate, Channels: 1, Logger: d.log,
			OnPCM: func(b []byte) { d.fanOut(st, b) }})
		if err != nil {
			return nil, nil, err
		}
		st.dec = dec
		d.tracks[trackID] = st
	}
	s := &source{trackID: trackID}
	st.outs[r] = s
	st.feeder.CompareAndSwap(nil, r)
	return s, st, nil
}

// detach removes r's buffer; the last listener stops the decoder, and a
// feeder that leaves hands over to another listener.
func (d *decoders) detach(trackID string, r *roomLink) {
	d.mu.Lock()
	st := d.tracks[trackID]
	if st == nil {
		d.mu.Unlock()
		return
	}
	delete(st.outs, r)
	if st.feeder.Load() == r {
		var next *roomLink
		for o := range st.outs {
			next = o
			break
		}
		st.feeder.Store(next)
	}
	var stop *transcode.Decoder
	if len(st.outs) == 0 {
		delete(d.tracks, trackID)
		stop = st.dec
	}
	d.mu.Unlock()
	if stop != nil {
		stop.Close() // outside the lock: its last PCM takes it
	}
}

// write feeds one Opus packet of the track if r is its feeder.
func (st *sharedTrack) write(r *roomLink, payload []byte) {
	if st.feeder.Load() == r {
		_ = st.dec.Write(payload)
	}
}

func (d *decoders) fanOut(st *sharedTrack, b []byte) {
	samples := transcode.S16(b)
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, s := range st.outs {
		s.push(samples)
	}
}

// active is the number of running decoders.
func (d *decoders) active() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.tracks)
}
