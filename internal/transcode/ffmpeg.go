// Package transcode runs ffmpeg as a supervised subprocess that turns
// audio into Opus and Opus into PCM through pipes: AAC (ADTS) or 16-bit
// PCM in, Opus packets out of an Ogg stream; Opus packets in an Ogg
// stream, PCM out. The gateways use it so the main binary needs no cgo.
package transcode

import (
	"bytes"

	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"strconv"
	"sync"
	"time"
)

// lowLatencyIn are ffmpeg input flags that start decoding at once.
var lowLatencyIn = []string{"-hide_banner", "-loglevel", "error", "-nostdin", "-fflags", "+nobuffer", "-probesize", "32", "-analyzeduration", "0"}

// proc is one ffmpeg process with its stdin, stdout and stderr.
type proc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout io.ReadCloser
	stderr bytes.Buffer
	log    *slog.Logger

	mu     sync.Mutex // guards stdin writes and closed
	closed bool
	wg     sync.WaitGroup
	done   chan struct{}
	err    error // set before done is closed
}

func startProc(ffmpeg string, args []string, log *slog.Logger) (*proc, error) {
	cmd := exec.Command(ffmpeg, args...)
	p := &proc{cmd: cmd, log: log, done: make(chan struct{})}
	cmd.Stderr = &limitedWriter{b: &p.stderr, n: 4096}
	var err error
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if p.stdout, err = cmd.StdoutPipe(); err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", ffmpeg, err)
	}
	return p, nil
}

// run reads stdout with read until it fails, then waits for the process.
func (p *proc) run(read func(io.Reader) error) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		rerr := read(p.stdout)
		_, _ = io.Copy(io.Discard, p.stdout)
		werr := p.cmd.Wait()
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		switch {
		case werr != nil:
			p.err = fmt.Errorf("ffmpeg: %w: %s", werr, bytes.TrimSpace(p.stderr.Bytes()))
		case rerr != nil && rerr != io.EOF:
			p.err = rerr
		}
		close(p.done)
	}()
}

// write sends input bytes to ffmpeg.
func (p *proc) write(b []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	_, err := p.stdin.Write(b)
	return err
}

// Done is closed when the process has exited.
func (p *proc) Done() <-chan struct{} { return p.done }

// Err is why the process exited (nil for a clean end of input).
func (p *proc) Err() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// Close ends the input, waits up to 2 s for ffmpeg to finish, then kills it.
func (p *proc) Close() {
	p.mu.Lock()
	p.closed = true
	_ = p.stdin.Close()
	p.mu.Unlock()
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		_ = p.cmd.Process.Kill()
	}
	p.wg.Wait()
}

type limitedWriter struct {
	mu sync.Mutex
	b  *bytes.Buffer
	n  int
}

func (w *limitedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if room := w.n - w.b.Len(); room > 0 {
		w.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// Input is what an Encoder reads.
type Input struct {
	// AAC is ADTS-framed AAC; otherwise the input is s16le PCM of
	// SampleRate and Channels.
	AAC        bool
	SampleRate int
	Channels   int
}

// EncoderOptions configure an Encoder.
type EncoderOptions struct {
	FFmpeg string
	Input  Input
	Kbps   int
	// Voice tunes Opus for speech (application voip).
	Voice bool
	// OnPacket is called on the encoder's goroutine with each Opus packet
	// and its duration in 48 kHz samples; the packet is not reused.
	OnPacket func(pkt []byte, samples int)
	Logger   *slog.Logger
}

// Encoder is an ffmpeg process that encodes its input to Opus (48 kHz,
// 20 ms frames).
type Encoder struct{ *proc }

// NewEncoder starts an encoder.
func NewEncoder(o EncoderOptions) (*Encoder, error) {
	args := append([]string{}, lowLatencyIn...)
	if o.Input.AAC {
		args = append(args, "-f", "aac")
	} else {
		args = append(args, "-f", "s16le", "-ar", strconv.Itoa(o.Input.SampleRate), "-ac", strconv.Itoa(o.Input.Channels))
	}
	app := "audio"
	if o.Voice {
		app = "voip"
	}
	channels := "2"
	if !o.Input.AAC && o.Input.Channels == 1 {
		channels = "1"
	}
	args = append(args, "-i", "pipe:0", "-ar", "48000", "-ac", channels, "-c:a", "libopus", "-b:a", strconv.Itoa(o.Kbps)+"k",
		"-application", app, "-frame_duration", "20", "-f", "ogg", "-page_duration", "20000", "-flush_packets", "1", "pipe:1")
	p, err := startProc(o.FFmpeg, args, o.Logger)
	if err != nil {
		return nil, err
	}
	p.run(func(r io.Reader) error {
		or := NewOggReader(r)
		for i := 0; ; i++ {
			pkt, err := or.Next()
			if err != nil {
				return err
			}
			if i < 2 {
				continue // OpusHead, OpusTags
			}
			if n := OpusSamples(pkt); n > 0 {
				o.OnPacket(pkt, n)
			}
		}
	})
	return &Encoder{p}, nil
}

// Write feeds input bytes (whole ADTS frames, or PCM).
func (e *Encoder) Write(b []byte) error { return e.write(b) }

// DecoderOptions configure a Decoder.
type DecoderOptions struct {
	FFmpeg     string
	SampleRate int // of the PCM out
	Channels   int
	// OnPCM is called on the decoder's goroutine with s16le samples as
	// they come (any length, whole samples); the slice is reused.
	OnPCM  func(pcm []byte)
	Logger *slog.Logger
}

// Decoder is an ffmpeg process that decodes Opus packets to PCM.
type Decoder struct {
	*proc
	ogg *OggWriter
}

// NewDecoder starts a decoder.
func NewDecoder(o DecoderOptions) (*Decoder, error) {
	args := append([]string{}, lowLatencyIn...)
	args = append(args, "-f", "ogg", "-i", "pipe:0", "-f", "s16le", "-ar", strconv.Itoa(o.SampleRate),
		"-ac", strconv.Itoa(o.Channels), "-flush_packets", "1", "pipe:1")
	p, err := startProc(o.FFmpeg, args, o.Logger)
	if err != nil {
		return nil, err
	}
	d := &Decoder{proc: p}
	d.ogg, err = NewOggWriter(p.stdin, 2)
	if err != nil {
		p.Close()
		return nil, err
	}
	frame := 2 * o.Channels
	p.run(func(r io.Reader) error {
		buf := make([]byte, 4096)
		carry := 0
		for {
			n, err := r.Read(buf[carry:])
			n += carry
			whole := n - n%frame
			if whole > 0 {
				o.OnPCM(buf[:whole])
			}
			carry = copy(buf, buf[whole:n])
			if err != nil {
				return err
			}
		}
	})
	return d, nil
}

// Write feeds one Opus packet.
func (d *Decoder) Write(pkt []byte) error {
	n := OpusSamples(pkt)
	if n == 0 {
		return fmt.Errorf("%w: bad Opus packet", ErrBadStream)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrClosed
	}
	return d.ogg.WritePacket(pkt, n)
}
