package egress

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/pkg/client"
)

// trackPipeline writes one track to one file without transcoding.
type trackPipeline struct {
	w     *Worker
	src   *source
	req   bus.EgressRequest
	track bus.TrackInfo
	file  string // local path
}

func newTrackPipeline(w *Worker, src *source, req bus.EgressRequest) (*trackPipeline, error) {
	t, ok := src.track(req.TrackID)
	if !ok {
		return nil, fmt.Errorf("%w: track %q is not published in room %s", ErrNotFound, req.TrackID, req.Room)
	}
	if len(req.Outputs) != 1 || req.Outputs[0].File == "" {
		return nil, fmt.Errorf("%w: a track egress has one file output", ErrBadRequest)
	}
	if _, err := checkCodec(req.Outputs[0].File, t.MimeType); err != nil {
		return nil, err
	}
	file, err := w.files.localPath(req.Namespace, req.Outputs[0].File)
	if err != nil {
		return nil, err
	}
	return &trackPipeline{w: w, src: src, req: req, track: t, file: file}, nil
}

// depacketizer returns the RTP depacketizer and clock rate of mime.
func depacketizer(mime string) (rtp.Depacketizer, uint32, bool) {
	switch strings.ToLower(mime) {
	case "video/vp8":
		return &codecs.VP8Packet{}, 90000, true
	case "video/vp9":
		return &codecs.VP9Packet{}, 90000, true
	case "video/h264":
		return &codecs.H264Packet{}, 90000, true
	case "audio/opus":
		return &codecs.OpusPacket{}, 48000, true
	}
	return nil, 0, false
}

// isKeyframe reports whether a depacketized frame of mime is a keyframe.
func isKeyframe(mime string, f []byte) bool {
	switch strings.ToLower(mime) {
	case "video/vp8":
		return len(f) > 0 && f[0]&1 == 0
	case "video/vp9":
		// frame_marker, profile (0-2), show_existing_frame, frame_type.
		return len(f) > 0 && f[0]>>6 == 2 && f[0]&0x08 == 0 && f[0]&0x04 == 0
	case "video/h264":
		return h264Key(f)
	}
	return true
}

func (p *trackPipeline) run(ctx context.Context, j *job) ([]bus.EgressResult, error) {
	res := bus.EgressResult{EgressOutput: p.req.Outputs[0]}
	rt, fd, err := p.src.subscribe(ctx, p.track.ID)
	if err != nil {
		return nil, err
	}
	fw, err := newFrameWriter(p.file, p.track.MimeType, &j.bytes)
	if err != nil {
		return nil, err
	}
	rec := newRecorder(p.track.MimeType, fw)
	rec.onFirst = j.activate
	rec.onProgress = j.duration.Store
	// The egress ends (complete) when its track is unpublished.
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-lctx.Done():
				return
			case <-t.C:
			}
			if _, ok := p.src.track(p.track.ID); !ok {
				reason := "track unpublished"
				j.reason.CompareAndSwap(nil, &reason)
				cancel()
				return
			}
		}
	}()
	go func() {
		select {
		case <-lctx.Done():
		case <-p.src.lost:
			cancel()
		}
	}()
	err = rec.loop(lctx, fd, rt)
	select {
	case <-p.src.lost:
		if err == nil && ctx.Err() == nil {
			err = p.src.lostErr
		}
	default:
	}
	if cerr := fw.close(); err == nil && cerr != nil {
		err = cerr
	}
	res.Bytes = j.bytes.Load()
	fctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	loc, uerr := p.w.files.finish(fctx, p.req.Namespace, res.File, p.file)
	res.Location = loc
	if uerr != nil {
		res.Error = uerr.Error()
		if err == nil {
			err = uerr
		}
	}
	return []bus.EgressResult{res}, err
}

// recorder turns the RTP of one track into frames for a frameWriter:
// reordering and loss are handled by a sample builder; after a loss in a
// video track, frames are dropped until the next keyframe (asked for with
// a PLI), so the file never holds a frame that refers to a missing one.
type recorder struct {
	mime  string
	video bool
	sb    *samplebuilder.SampleBuilder
	fw    frameWriter
	// onFirst runs at the first frame written, onProgress with the ms of
	// media written after each frame (either may be nil).
	onFirst    func()
	onProgress func(ms int64)
	needKey    bool
	lastPLI    time.Time
	unwrap     tsUnwrap
	first      int64
	started    bool
	clock      uint32
	lastTS     int64
	// h264 (H.264 tracks only) keeps the last parameter sets: a recording
	// starts at an IDR with its SPS and PPS, which may have come in an
	// earlier sample or been lost before the feed started.
	h264 *h264Params
}

func newRecorder(mime string, fw frameWriter) *recorder {
	d, clock, _ := depacketizer(mime)
	video := strings.HasPrefix(strings.ToLower(mime), "video/")
	maxLate := uint16(50)
	if video {
		maxLate = 256
	}
	r := &recorder{mime: mime, video: video, fw: fw, needKey: video, clock: clock,
		sb: samplebuilder.New(maxLate, d, clock, samplebuilder.WithMaxTimeDelay(500*time.Millisecond))}
	if strings.EqualFold(mime, "video/h264") {
		r.h264 = &h264Params{}
	}
	return r
}

func (r *recorder) loop(ctx context.Context, fd *feed, rt *client.RemoteTrack) error {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var pkt rtp.Packet
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if r.video && r.needKey && time.Since(r.lastPLI) > 500*time.Millisecond {
				if rt.RequestKeyframe() == nil {
					r.lastPLI = time.Now()
				}
			}
		case p := <-fd.ch:
			err := pkt.Unmarshal(p.buf)
			if err == nil && len(pkt.Payload) > 0 {
				// The builder keeps the packet until its sample is
				// popped: give it a copy, not the pooled buffer.
				q := pkt.Clone()
				r.sb.Push(q)
			}
			fd.release(p)
			if err := r.drain(); err != nil {
				return err
			}
		}
	}
}

func (r *recorder) drain() error {
	for {
		s := r.sb.Pop()
		if s == nil {
			return nil
		}
		if err := r.sample(s); err != nil {
			return err
		}
	}
}

func (r *recorder) sample(s *media.Sample) error {
	if len(s.Data) == 0 {
		return nil
	}
	data, key := s.Data, true
	if r.video {
		if s.PrevDroppedPackets > 0 {
			r.needKey = true
		}
		if r.h264 != nil {
			// An IDR without parameter sets, none seen before, is no
			// start: it is dropped and the tick asks for another.
			data, key = r.h264.prepare(s.Data)
		} else {
			key = isKeyframe(r.mime, s.Data)
		}
		if r.needKey && !key {
			return nil
		}
		r.needKey = false
	}
	ts := r.unwrap.unwrap(s.PacketTimestamp)
	if !r.started {
		r.first, r.started = ts, true
		if r.onFirst != nil {
			r.onFirst()
		}
	}
	ms := (ts - r.first) * 1000 / int64(r.clock)
	if ms < r.lastTS {
		ms = r.lastTS // never go back in time
	}
	r.lastTS = ms
	if err := r.fw.write(key, ms, s.PacketTimestamp, data); err != nil {
		return fmt.Errorf("write %s: %w", r.mime, err)
	}
	if r.onProgress != nil {
		r.onProgress(ms)
	}
	return nil
}

// tsUnwrap extends 32-bit RTP timestamps to 64 bits (either direction).
type tsUnwrap struct {
	last  uint32
	cur   int64
	valid bool
}

func (u *tsUnwrap) unwrap(ts uint32) int64 {
	if !u.valid {
		u.valid, u.last, u.cur = true, ts, int64(ts)
		return u.cur
	}
	u.cur += int64(int32(ts - u.last))
	u.last = ts
	return u.cur
}

// checkCodec says whether a track of mime can go to file.
func checkCodec(file, mime string) (bool, error) {
	if _, _, ok := depacketizer(mime); !ok {
		return false, fmt.Errorf("%w: codec %s is not recorded", ErrCodec, mime)
	}
	return true, checkExt(file, mime)
}
