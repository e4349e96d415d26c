package egress

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pion/webrtc/v4/pkg/media/oggwriter"
	"github.com/rtcloud/rtcloud/internal/bus"
)

// input is one received track decoded by its own ffmpeg process: video
// to raw frames of a fixed size (the newest kept for the compositor),
// audio to 48 kHz stereo PCM (buffered for the mixer). A decoder that
// fails only blanks its participant; the egress goes on.
type input struct {
	track  bus.TrackInfo
	log    *slog.Logger
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// video
	w, h   int
	mu     sync.Mutex
	frame  []byte // newest decoded frame, nil before the first
	frames int
	at     time.Time // when frame was decoded

	// audio
	pcm pcmBuffer
}

// inputOptions say how to start an input.
type inputOptions struct {
	FFmpeg string
	W, H   int // video decode size
	Log    *slog.Logger
}

// startInput subscribes to track through src and starts its decoder.
func startInput(src *source, track bus.TrackInfo, o inputOptions) (*input, error) {
	ctx, cancel := context.WithCancel(context.Background())
	in := &input{track: track, log: o.Log.With("track", track.ID, "kind", track.Kind), cancel: cancel, w: o.W, h: o.H}
	args, err := decoderArgs(track.MimeType, o.W, o.H)
	if err != nil {
		cancel()
		return nil, err
	}
	sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
	rt, fd, err := src.subscribe(sctx, track.ID)
	scancel()
	if err != nil {
		cancel()
		return nil, err
	}
	out := io.Writer(&in.pcm)
	if track.Kind == bus.KindVideo {
		out = &frameReader{in: in, size: o.W * o.H * 3 / 2}
	}
	dec, stdin, err := startProc(procSpec{Path: o.FFmpeg, Args: args, Stdin: true, Stdout: out, Log: in.log})
	if err != nil {
		cancel()
		return nil, err
	}
	var fw frameWriter
	if track.Kind == bus.KindVideo {
		fw = &ivfPipe{w: stdin, fourcc: ivfFourCC(track.MimeType)}
	} else {
		ow, err := oggwriter.NewWith(stdin, 48000, 2)
		if err != nil {
			_ = stdin.Close()
			dec.Stop(0)
			cancel()
			return nil, err
		}
		fw = &oggWriter{w: ow, f: stdin}
	}
	rec := newRecorder(track.MimeType, fw)
	in.wg.Add(2)
	go func() {
		defer in.wg.Done()
		if err := rec.loop(ctx, fd, rt); err != nil && !errors.Is(err, context.Canceled) {
			in.log.Debug("decoder input ended", "err", err)
		}
		_ = fw.close()
		dec.Stop(2 * time.Second)
		if ctx.Err() == nil {
			in.log.Warn("decoder exited", "err", dec.Err())
		}
		// Leave the subscription: its transceiver is free for others.
		uctx, ucancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = src.c.Unsubscribe(uctx, rt)
		ucancel()
	}()
	// A decoder that exits ends the input's RTP loop too; one that stops
	// reading is killed once the input ends, so no write blocks forever.
	go func() {
		defer in.wg.Done()
		select {
		case <-dec.Done():
			cancel()
		case <-ctx.Done():
			select {
			case <-dec.Done():
			case <-time.After(5 * time.Second):
				dec.Kill(syscall.SIGKILL)
			}
		}
	}()
	return in, nil
}

// stop ends the input and waits for its decoder to be reaped.
func (in *input) stop() {
	in.cancel()
	in.wg.Wait()
}

// staleFrame: a participant whose video stopped (paused, starved, a
// decoder that stalled) shows its name card instead of a frozen picture.
const staleFrame = 3 * time.Second

// latest calls fn with the newest frame (nil before the first and once
// it is older than staleFrame).
func (in *input) latest(fn func(frame []byte, w, h int)) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.frame != nil && time.Since(in.at) > staleFrame {
		fn(nil, in.w, in.h)
		return
	}
	fn(in.frame, in.w, in.h)
}

func decoderArgs(mime string, w, h int) ([]string, error) {
	common := []string{"-hide_banner", "-loglevel", "error", "-probesize", "32", "-analyzeduration", "0", "-fflags", "nobuffer", "-threads", "1"}
	switch strings.ToLower(mime) {
	case "video/vp8", "video/vp9", "video/h264":
		f := "ivf"
		if strings.EqualFold(mime, "video/h264") {
			f = "h264"
		}
		ws, hs := strconv.Itoa(w), strconv.Itoa(h)
		vf := "scale=" + ws + ":" + hs + ":force_original_aspect_ratio=decrease,pad=" + ws + ":" + hs + ":(ow-iw)/2:(oh-ih)/2,format=yuv420p"
		return append(common, "-f", f, "-i", "pipe:0", "-an", "-vf", vf, "-fps_mode", "passthrough",
			"-f", "rawvideo", "-pix_fmt", "yuv420p", "pipe:1"), nil
	case "audio/opus":
		return append(common, "-f", "ogg", "-i", "pipe:0", "-vn", "-f", "s16le", "-ar", "48000", "-ac", "2",
			"-flush_packets", "1", "pipe:1"), nil
	}
	return nil, fmt.Errorf("%w: %s is not composited", ErrCodec, mime)
}

func ivfFourCC(mime string) string {
	switch strings.ToLower(mime) {
	case "video/vp9":
		return "VP90"
	case "video/h264":
		return "" // raw Annex B
	}
	return "VP80"
}

// ivfPipe writes frames as IVF (VP8, VP9) or raw Annex B (H.264).
type ivfPipe struct {
	w      io.WriteCloser
	fourcc string
	header bool
	hdr    [12]byte
}

func (p *ivfPipe) write(_ bool, ts int64, _ uint32, frame []byte) error {
	if p.fourcc == "" {
		_, err := p.w.Write(frame)
		return err
	}
	if !p.header {
		h := make([]byte, 32)
		copy(h, "DKIF")
		binary.LittleEndian.PutUint16(h[6:], 32)
		copy(h[8:], p.fourcc)
		wd, ht := vp8Size(frame)
		binary.LittleEndian.PutUint16(h[12:], uint16(wd))
		binary.LittleEndian.PutUint16(h[14:], uint16(ht))
		binary.LittleEndian.PutUint32(h[16:], 1000) // time base 1/1000
		binary.LittleEndian.PutUint32(h[20:], 1)
		if _, err := p.w.Write(h); err != nil {
			return err
		}
		p.header = true
	}
	binary.LittleEndian.PutUint32(p.hdr[:], uint32(len(frame)))
	binary.LittleEndian.PutUint64(p.hdr[4:], uint64(ts))
	if _, err := p.w.Write(p.hdr[:]); err != nil {
		return err
	}
	_, err := p.w.Write(frame)
	return err
}

func (p *ivfPipe) close() error { return p.w.Close() }

// frameReader cuts the decoder's output into frames and publishes each
// as the input's newest.
type frameReader struct {
	in   *input
	size int
	back []byte
	n    int
}

func (f *frameReader) Write(b []byte) (int, error) {
	total := len(b)
	for len(b) > 0 {
		if f.back == nil {
			f.back = make([]byte, f.size)
		}
		k := copy(f.back[f.n:], b)
		f.n += k
		b = b[k:]
		if f.n == f.size {
			f.in.mu.Lock()
			f.in.frame, f.back = f.back, f.in.frame
			f.in.frames++
			f.in.at = time.Now()
			f.in.mu.Unlock()
			f.n = 0
		}
	}
	return total, nil
}

// pcmBuffer holds decoded 48 kHz stereo s16 samples for the mixer. It
// keeps at most maxPCM; the mixer starts taking once primePCM is there,
// and again after running dry, so network jitter does not chop the sound.
type pcmBuffer struct {
	mu     sync.Mutex
	buf    []int16
	odd    []byte
	primed bool
}

const (
	pcmRate  = 48000
	maxPCM   = pcmRate * 2 / 2       // 0.5 s of stereo samples
	primePCM = pcmRate * 2 * 6 / 100 // 60 ms
)

func (p *pcmBuffer) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(b)
	if len(p.odd) > 0 {
		b = append(p.odd, b...)
		p.odd = nil
	}
	for i := 0; i+1 < len(b); i += 2 {
		p.buf = append(p.buf, int16(binary.LittleEndian.Uint16(b[i:])))
	}
	if len(b)%2 == 1 {
		p.odd = []byte{b[len(b)-1]}
	}
	if over := len(p.buf) - maxPCM; over > 0 {
		over += over % 2
		p.buf = append(p.buf[:0], p.buf[over:]...)
	}
	return n, nil
}

// mixInto adds up to len(dst) samples to dst.
func (p *pcmBuffer) mixInto(dst []int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.primed {
		if len(p.buf) < primePCM {
			return
		}
		p.primed = true
	}
	n := min(len(dst), len(p.buf))
	for i := range n {
		dst[i] += int32(p.buf[i])
	}
	p.buf = append(p.buf[:0], p.buf[n:]...)
	if len(p.buf) == 0 {
		p.primed = false
	}
}
