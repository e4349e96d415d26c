package egress

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/config"
)

// compositePipeline mixes a room: every participant's video in a layout
// (a name card for those without video), all audio mixed, encoded by one
// ffmpeg process that writes every output. Video frames and audio
// samples are produced against one clock, so the outputs stay in sync and
// their duration is the wall-clock time the egress ran.
type compositePipeline struct {
	w       *Worker
	src     *source
	req     bus.EgressRequest
	cfg     config.Egress
	log     *slog.Logger
	targets []target
	enc     atomic.Pointer[proc] // for tests

	mu      sync.Mutex // guards parts and speaker
	parts   map[string]*part
	speaker string // session id of the active speaker
}

// part is one participant of the composite.
type part struct {
	p        bus.Participant
	joined   time.Time
	video    *input
	audio    *input
	vMuted   bool
	aMuted   bool
	videoID  string
	audioID  string
	starting bool
}

func newCompositePipeline(w *Worker, src *source, req bus.EgressRequest) (pipeline, error) {
	p := &compositePipeline{w: w, src: src, req: req, cfg: w.opts.Config, log: src.log, parts: map[string]*part{}}
	for _, o := range req.Outputs {
		t := target{out: o}
		var err error
		switch {
		case o.File != "":
			t.local, err = w.files.localPath(req.Namespace, o.File)
		case o.HLS != "":
			t.local, err = w.files.localPath(req.Namespace, o.HLS)
			if err == nil {
				err = os.MkdirAll(t.local, 0o755)
			}
		}
		if err != nil {
			return nil, err
		}
		p.targets = append(p.targets, t)
	}
	return p, nil
}

func (p *compositePipeline) run(ctx context.Context, j *job) ([]bus.EgressResult, error) {
	audioR, audioW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	enc, video, err := p.startEncoder(audioR)
	_ = audioR.Close()
	if err != nil {
		_ = audioW.Close()
		return nil, err
	}
	p.enc.Store(enc)
	var wg sync.WaitGroup
	evCtx, stopEvents := context.WithCancel(context.Background())
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.follow(evCtx)
	}()
	clk := newClock()
	var vErr, aErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		vErr = p.videoLoop(clk, video, j)
		_ = video.Close()
	}()
	go func() {
		defer wg.Done()
		aErr = p.audioLoop(clk, audioW)
		_ = audioW.Close()
	}()
	var runErr error
	select {
	case <-ctx.Done():
	case <-enc.Done():
		runErr = fmt.Errorf("ffmpeg exited: %v", enc.Err())
	case <-p.src.lost:
		runErr = p.src.lostErr
	}
	clk.end()
	stopEvents()
	// An encoder that stopped reading would hold the loops in their
	// writes: kill it if they do not end soon.
	loops := make(chan struct{})
	go func() {
		select {
		case <-loops:
		case <-time.After(15 * time.Second):
			enc.Kill(syscall.SIGKILL)
		}
	}()
	wg.Wait()
	close(loops)
	enc.Stop(15 * time.Second)
	if runErr == nil {
		if err := enc.Err(); err != nil {
			runErr = fmt.Errorf("ffmpeg: %v", err)
		} else if vErr != nil || aErr != nil {
			runErr = errors.Join(vErr, aErr)
		}
	}
	p.stopInputs()
	j.bytes.Store(p.outputBytes())
	res := p.finish(runErr)
	for i, msg := range failedSlaves(enc.stderr.all()) {
		if i < len(res) && res[i].Error == "" {
			res[i].Error = msg
		}
	}
	return res, runErr
}

func (p *compositePipeline) startEncoder(audio *os.File) (*proc, io.WriteCloser, error) {
	args := encoderArgs(p.cfg, p.targets)
	cmdProc, stdin, err := startProcExtra(procSpec{Path: p.cfg.FFmpeg, Args: args, Stdin: true, Log: p.log}, audio)
	if err != nil {
		return nil, nil, err
	}
	p.log.Debug("encoder started", "pid", cmdProc.Pid(), "args", args)
	return cmdProc, stdin, nil
}

// finish uploads finished files and lists the results.
func (p *compositePipeline) finish(runErr error) []bus.EgressResult {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out := make([]bus.EgressResult, 0, len(p.targets))
	for _, t := range p.targets {
		r := t.result()
		name := t.out.File
		if name == "" {
			name = t.out.HLS
		}
		if t.local != "" && (r.Bytes > 0 || runErr == nil) {
			loc, err := p.w.files.finish(ctx, p.req.Namespace, name, t.local)
			if err != nil {
				r.Error = err.Error()
			} else if t.out.HLS != "" {
				r.Location = loc
				if p.w.files.s3 != nil {
					r.Playlist = loc + "index.m3u8"
				}
			} else {
				r.Location = loc
			}
		}
		out = append(out, r)
	}
	return out
}

// slaveFailed is how ffmpeg's tee muxer reports an output it gave up on.
var slaveFailed = regexp.MustCompile(`Slave muxer #(\d+) failed: ([^\n]*?)(, continuing with [^\n]*)?\n`)

// failedSlaves maps the index of each output the encoder gave up on (an
// RTMP server that refused or went away) to why.
func failedSlaves(stderr string) map[int]string {
	out := map[int]string{}
	for _, m := range slaveFailed.FindAllStringSubmatch(stderr+"\n", -1) {
		if i, err := strconv.Atoi(m[1]); err == nil {
			out[i] = "output failed: " + m[2]
		}
	}
	return out
}

// clock paces the video and audio loops: both produce media due at the
// time since start, and both stop at the same end time.
type clock struct {
	start   time.Time
	endOnce sync.Once
	ended   chan struct{}
	endAt   time.Time
}

func newClock() *clock { return &clock{start: time.Now(), ended: make(chan struct{})} }

func (c *clock) end() {
	c.endOnce.Do(func() {
		c.endAt = time.Now()
		close(c.ended)
	})
}

// due is the media time to produce up to now, and whether the clock ended.
func (c *clock) due() (time.Duration, bool) {
	select {
	case <-c.ended:
		return c.endAt.Sub(c.start), true
	default:
		return time.Since(c.start), false
	}
}

func (p *compositePipeline) videoLoop(clk *clock, out io.Writer, j *job) error {
	cv := newCanvas(p.cfg.Width, p.cfg.Height)
	tick := time.NewTicker(time.Second / time.Duration(p.cfg.FPS))
	defer tick.Stop()
	written := 0
	for {
		d, ended := clk.due()
		want := int(d*time.Duration(p.cfg.FPS)/time.Second) + 1
		if written < want {
			p.compose(cv)
		}
		for ; written < want; written++ {
			if _, err := out.Write(cv.buf); err != nil {
				return fmt.Errorf("write video: %w", err)
			}
			if written%p.cfg.FPS == 0 {
				j.bytes.Store(p.outputBytes())
			}
			j.duration.Store(int64(written+1) * 1000 / int64(p.cfg.FPS))
			if written == 0 {
				j.activate()
			}
		}
		if ended {
			return nil
		}
		select {
		case <-tick.C:
		case <-clk.ended:
		}
	}
}

// outputBytes is what the outputs on disk hold so far.
func (p *compositePipeline) outputBytes() int64 {
	var n int64
	for _, t := range p.targets {
		if t.local != "" {
			n += t.result().Bytes
		}
	}
	return n
}

func (p *compositePipeline) audioLoop(clk *clock, out io.Writer) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var written int64 // sample frames
	mix := make([]int32, 0, pcmRate)
	buf := make([]byte, 0, pcmRate*4)
	for {
		d, ended := clk.due()
		want := int64(d) * pcmRate / int64(time.Second)
		if n := want - written; n > 0 {
			mix = mix[:0]
			for range n * 2 {
				mix = append(mix, 0)
			}
			p.mixAudio(mix)
			buf = buf[:0]
			for _, s := range mix {
				buf = binary.LittleEndian.AppendUint16(buf, uint16(int16(max(-32768, min(32767, s)))))
			}
			if _, err := out.Write(buf); err != nil {
				return fmt.Errorf("write audio: %w", err)
			}
			written = want
		}
		if ended {
			return nil
		}
		select {
		case <-tick.C:
		case <-clk.ended:
		}
	}
}

func (p *compositePipeline) mixAudio(dst []int32) {
	p.mu.Lock()
	var ins []*input
	for _, pt := range p.parts {
		if pt.audio != nil && !pt.aMuted {
			ins = append(ins, pt.audio)
		}
	}
	p.mu.Unlock()
	for _, in := range ins {
		in.pcm.mixInto(dst)
	}
}

// order lists the participants by join time.
func (p *compositePipeline) order() ([]string, int) {
	keys := make([]string, 0, len(p.parts))
	for k := range p.parts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool {
		pa, pb := p.parts[keys[a]], p.parts[keys[b]]
		if !pa.joined.Equal(pb.joined) {
			return pa.joined.Before(pb.joined)
		}
		return pa.p.Identity < pb.p.Identity
	})
	main := -1
	for i, k := range keys {
		if k == p.speaker {
			main = i
		}
	}
	return keys, main
}

// compose draws the current layout.
func (p *compositePipeline) compose(cv *canvas) {
	cv.clear()
	p.mu.Lock()
	keys, main := p.order()
	tiles := layoutTiles(p.req.Layout, cv.w, cv.h, keys, main)
	type draw struct {
		t    tile
		in   *input
		name string
	}
	draws := make([]draw, 0, len(tiles))
	for _, t := range tiles {
		pt := p.parts[t.key]
		d := draw{t: t, name: pt.p.Name}
		if d.name == "" {
			d.name = pt.p.Identity
		}
		if pt.video != nil && !pt.vMuted {
			d.in = pt.video
		}
		draws = append(draws, d)
	}
	p.mu.Unlock()
	for _, d := range draws {
		drawn := false
		if d.in != nil {
			d.in.latest(func(f []byte, w, h int) {
				if f != nil {
					cv.blit(f, w, h, fit(d.t.rect.Inset(1), w, h))
					drawn = true
				}
			})
		}
		if !drawn {
			cv.nameTile(d.t.rect, d.name)
		}
	}
}

// follow keeps the participants and their inputs in step with the room:
// at every room event, and every second in case an event was missed.
func (p *compositePipeline) follow(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	events := p.src.c.Events()
	for {
		p.sync()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if events == nil {
				events = p.src.c.Events()
			}
		case ev, ok := <-events:
			if !ok { // the connection dropped; the source reattaches it
				events = nil
				continue
			}
			if ev.Type == bus.EventActiveSpeakers && len(ev.Speakers) > 0 {
				p.mu.Lock()
				p.speaker = ev.Speakers[0].SessionID
				p.mu.Unlock()
			}
		}
	}
}

// sync reconciles parts with the room state the client keeps.
func (p *compositePipeline) sync() {
	room := p.src.c.Participants()
	seen := map[string]bool{}
	var start []func()
	var stop []*input
	p.mu.Lock()
	for _, pi := range room {
		key := pi.SessionID
		seen[key] = true
		pt := p.parts[key]
		if pt == nil {
			pt = &part{p: pi.Participant, joined: pi.JoinedAt}
			if pt.joined.IsZero() {
				pt.joined = time.Now()
			}
			p.parts[key] = pt
		}
		var vt, at *bus.TrackInfo
		for i := range pi.Tracks {
			t := &pi.Tracks[i]
			if t.Kind == bus.KindVideo && (vt == nil || t.Source == bus.SourceCamera) {
				vt = t
			}
			if t.Kind == bus.KindAudio && at == nil {
				at = t
			}
		}
		stop = append(stop, p.reconcile(pt, vt, true, &start)...)
		stop = append(stop, p.reconcile(pt, at, false, &start)...)
	}
	for key, pt := range p.parts {
		if !seen[key] {
			if pt.video != nil {
				stop = append(stop, pt.video)
			}
			if pt.audio != nil {
				stop = append(stop, pt.audio)
			}
			delete(p.parts, key)
			if p.speaker == key {
				p.speaker = ""
			}
		}
	}
	p.mu.Unlock()
	for _, in := range stop {
		in.stop()
	}
	for _, fn := range start {
		fn()
	}
}

// reconcile starts or stops pt's video (or audio) input for track t
// (nil: none). Called with p.mu held; inputs start after it is released.
func (p *compositePipeline) reconcile(pt *part, t *bus.TrackInfo, video bool, start *[]func()) []*input {
	cur, curID, muted := &pt.audio, &pt.audioID, &pt.aMuted
	if video {
		cur, curID, muted = &pt.video, &pt.videoID, &pt.vMuted
	}
	var stop []*input
	if t == nil || (*curID != "" && *curID != t.ID) {
		if *cur != nil {
			stop = append(stop, *cur)
		}
		*cur, *curID = nil, ""
	}
	if t == nil {
		return stop
	}
	*muted = t.Muted
	if *curID == t.ID {
		return stop
	}
	*curID = t.ID
	track := *t
	*start = append(*start, func() {
		in, err := startInput(p.src, track, inputOptions{FFmpeg: p.cfg.FFmpeg, W: p.decodeW(), H: p.decodeH(), Log: p.log})
		if err != nil {
			p.log.Warn("input not started", "track", track.ID, "err", err)
			p.mu.Lock()
			if *curID == track.ID {
				*curID = "" // the next sync tries again
			}
			p.mu.Unlock()
			return
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if *curID != track.ID || p.parts[pt.p.SessionID] != pt {
			go in.stop() // the track went away meanwhile
			return
		}
		*cur = in
	})
	return stop
}

// Decoded video is half the canvas: a grid tile of up to four.
func (p *compositePipeline) decodeW() int { return even(p.cfg.Width / 2) }
func (p *compositePipeline) decodeH() int { return even(p.cfg.Height / 2) }

func (p *compositePipeline) stopInputs() {
	p.mu.Lock()
	var ins []*input
	for _, pt := range p.parts {
		for _, in := range []*input{pt.video, pt.audio} {
			if in != nil {
				ins = append(ins, in)
			}
		}
		pt.video, pt.audio = nil, nil
	}
	p.mu.Unlock()
	for _, in := range ins {
		in.stop()
	}
}
