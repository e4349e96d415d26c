package transcode

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"
)

// VideoLayer is one lower-resolution layer a Scaler encodes.
type VideoLayer struct {
	Divisor int // width and height of the input divided by this
	Kbps    int
}

// ScalerOptions configure a Scaler.
type ScalerOptions struct {
	FFmpeg string
	// Profile is the x264 profile of the layers ("baseline", "main",
	// "high"), so they match the input's SDP.
	Profile string
	Layers  []VideoLayer
	// OnAU is called with layer index i and one H.264 access unit in
	// Annex B (parameter sets before every IDR), in input order; on one
	// goroutine per layer.
	OnAU   func(i int, au []byte)
	Logger *slog.Logger
}

// Scaler is an ffmpeg process that decodes an H.264 stream (Annex B in)
// and encodes it again at lower resolutions, one output pipe per layer.
type Scaler struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	outs   []*os.File
	stderr bytes.Buffer
	mu     sync.Mutex // guards stdin and closed
	closed bool
	wg     sync.WaitGroup
	done   chan struct{}
}

// NewScaler starts a scaler.
func NewScaler(o ScalerOptions) (*Scaler, error) {
	// nobuffer breaks the raw H.264 demuxer's probing; 32 KiB covers the
	// parameter sets and the first frame.
	args := []string{"-hide_banner", "-loglevel", "error", "-nostdin", "-probesize", "32768", "-analyzeduration", "0",
		"-f", "h264", "-framerate", "30", "-i", "pipe:0"}
	s := &Scaler{done: make(chan struct{})}
	var writers []*os.File
	for i, l := range o.Layers {
		r, w, err := os.Pipe()
		if err != nil {
			s.closeFiles(writers)
			return nil, err
		}
		s.outs = append(s.outs, r)
		writers = append(writers, w)
		args = append(args, "-map", "0:v", "-fps_mode", "passthrough",
			"-vf", fmt.Sprintf("scale=trunc(iw/%d/2)*2:trunc(ih/%d/2)*2", l.Divisor, l.Divisor),
			"-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-profile:v", o.Profile,
			"-pix_fmt", "yuv420p", "-b:v", strconv.Itoa(l.Kbps)+"k", "-maxrate", strconv.Itoa(l.Kbps)+"k",
			"-bufsize", strconv.Itoa(2*l.Kbps)+"k", "-g", "60", "-bf", "0",
			"-x264-params", "aud=1:repeat-headers=1", "-f", "h264", "-flush_packets", "1", "pipe:"+strconv.Itoa(3+i))
	}
	s.cmd = exec.Command(o.FFmpeg, args...)
	s.cmd.ExtraFiles = writers
	s.cmd.Stderr = &limitedWriter{b: &s.stderr, n: 4096}
	var err error
	if s.stdin, err = s.cmd.StdinPipe(); err != nil {
		s.closeFiles(writers)
		s.closeFiles(s.outs)
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		s.closeFiles(writers)
		s.closeFiles(s.outs)
		return nil, fmt.Errorf("start %s: %w", o.FFmpeg, err)
	}
	s.closeFiles(writers) // the child has them
	for i, r := range s.outs {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			splitAUs(r, func(au []byte) { o.OnAU(i, au) })
		}()
	}
	go func() {
		_ = s.cmd.Wait()
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.done)
	}()
	return s, nil
}

func (s *Scaler) closeFiles(fs []*os.File) {
	for _, f := range fs {
		_ = f.Close()
	}
}

// Write feeds one access unit in Annex B.
func (s *Scaler) Write(au []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	_, err := s.stdin.Write(au)
	return err
}

// Close ends the input, waits up to 2 s for ffmpeg, then kills it.
func (s *Scaler) Close() {
	s.mu.Lock()
	s.closed = true
	_ = s.stdin.Close()
	s.mu.Unlock()
	select {
	case <-s.done:
	case <-afterSeconds(2):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.wg.Wait()
	s.closeFiles(s.outs)
}

// splitAUs cuts an Annex B stream at access unit delimiters (NAL type 9)
// and calls fn with each access unit (delimiter included).
func splitAUs(r io.Reader, fn func(au []byte)) {
	buf := make([]byte, 0, 1<<20)
	chunk := make([]byte, 64<<10)
	for {
		n, err := r.Read(chunk)
		buf = append(buf, chunk[:n]...)
		for {
			// The buffer starts with an AU's delimiter; the next one ends it.
			i := nextAUD(buf, 5)
			if i < 0 {
				break
			}
			fn(append([]byte(nil), buf[:i]...))
			buf = append(buf[:0], buf[i:]...)
		}
		if err != nil {
			if len(buf) > 0 {
				fn(buf)
			}
			return
		}
		if len(buf) > 8<<20 {
			buf = buf[:0] // no delimiters: not our stream
		}
	}
}

// nextAUD returns the offset of the start code of the first access unit
// delimiter at or after from, or -1.
func nextAUD(b []byte, from int) int {
	for i := from; i+4 < len(b); i++ {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 && b[i+3]&0x1f == 9 {
			if i > 0 && b[i-1] == 0 {
				return i - 1
			}
			return i
		}
	}
	return -1
}

func afterSeconds(n int) <-chan time.Time { return time.After(time.Duration(n) * time.Second) }
