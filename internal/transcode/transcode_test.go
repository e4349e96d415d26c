package transcode

import (
	"bytes"
	"encoding/binary"
	"math"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

func needFFmpeg(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("ffmpeg not installed (scripts/test-deps.sh installs it)")
	}
	return p
}

func sine(freq float64, rate, n int, phase *int) []byte {
	b := make([]byte, 2*n)
	for i := 0; i < n; i++ {
		v := int16(12000 * math.Sin(2*math.Pi*freq*float64(*phase)/float64(rate)))
		binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
		*phase++
	}
	return b
}

// TestRoundTrip encodes a 600 Hz tone to Opus and decodes it again: the
// spectrum of what comes out peaks at 600 Hz.
func TestRoundTrip(t *testing.T) {
	ff := needFFmpeg(t)
	var mu sync.Mutex
	var pcm bytes.Buffer
	dec, err := NewDecoder(DecoderOptions{FFmpeg: ff, SampleRate: 8000, Channels: 1, OnPCM: func(b []byte) {
		mu.Lock()
		pcm.Write(b)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	var packets int
	enc, err := NewEncoder(EncoderOptions{FFmpeg: ff, Input: Input{SampleRate: 8000, Channels: 1}, Kbps: 24, Voice: true,
		OnPacket: func(pkt []byte, samples int) {
			if samples != 960 {
				t.Errorf("packet of %d samples, want 960", samples)
			}
			mu.Lock()
			packets++
			mu.Unlock()
			_ = dec.Write(pkt)
		}})
	if err != nil {
		t.Fatal(err)
	}
	phase := 0
	for i := 0; i < 50; i++ { // 1 s
		if err := enc.Write(sine(600, 8000, 160, &phase)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := pcm.Len()
		mu.Unlock()
		if n >= 2*4000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("decoded %d bytes of PCM from %d packets; want 8000", n, packets)
		}
		time.Sleep(20 * time.Millisecond)
	}
	enc.Close()
	mu.Lock()
	s := S16(pcm.Bytes())
	mu.Unlock()
	s = s[len(s)/4:]
	if f := PeakFrequency(s, 8000); math.Abs(f-600) > 20 {
		t.Fatalf("peak at %.0f Hz, want 600", f)
	}
	if r := RMS(s); r < 2000 {
		t.Fatalf("RMS %.0f: too quiet", r)
	}
}

func FuzzOggReader(f *testing.F) {
	var b bytes.Buffer
	w, _ := NewOggWriter(&b, 2)
	_ = w.WritePacket([]byte{0xfc, 1, 2, 3}, 960)
	_ = w.WritePacket(bytes.Repeat([]byte{0x78}, 600), 960)
	f.Add(b.Bytes())
	f.Add([]byte("OggS\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewOggReader(bytes.NewReader(data))
		for i := 0; i < 1000; i++ {
			p, err := r.Next()
			if err != nil {
				return
			}
			_ = OpusSamples(p)
		}
	})
}

func TestOggRoundTrip(t *testing.T) {
	var b bytes.Buffer
	w, err := NewOggWriter(&b, 2)
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte{0x78}, 700)
	for _, p := range [][]byte{{0xfc, 1}, big} {
		if err := w.WritePacket(p, 960); err != nil {
			t.Fatal(err)
		}
	}
	r := NewOggReader(&b)
	var got [][]byte
	for {
		p, err := r.Next()
		if err != nil {
			break
		}
		got = append(got, p)
	}
	if len(got) != 4 || !bytes.HasPrefix(got[0], []byte("OpusHead")) || !bytes.Equal(got[3], big) {
		t.Fatalf("read %d packets back", len(got))
	}
}

func FuzzSplitAUs(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 9, 0xf0, 0, 0, 0, 1, 0x65, 1, 0, 0, 1, 9, 0xf0, 0, 0, 1, 0x41})
	f.Add([]byte{0, 0, 1, 9})
	f.Fuzz(func(t *testing.T, b []byte) {
		total := 0
		splitAUs(bytes.NewReader(b), func(au []byte) { total += len(au) })
		if total != len(b) {
			t.Fatalf("split %d bytes into AUs totalling %d", len(b), total)
		}
	})
}

// A scaler makes two smaller layers of an H.264 stream, frame for frame.
func TestScaler(t *testing.T) {
	ff := needFFmpeg(t)
	in, err := exec.Command(ff, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-frames:v", "30",
		"-c:v", "libx264", "-preset", "ultrafast", "-bf", "0", "-x264-params", "aud=1", "-f", "h264", "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	got := map[int][]byte{}
	frames := map[int]int{}
	s, err := NewScaler(ScalerOptions{FFmpeg: ff, Profile: "high", Layers: []VideoLayer{{Divisor: 2, Kbps: 300}, {Divisor: 4, Kbps: 100}},
		OnAU: func(i int, au []byte) {
			mu.Lock()
			got[i] = append(got[i], au...)
			frames[i]++
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	var aus int
	splitAUs(bytes.NewReader(in), func(au []byte) {
		aus++
		if err := s.Write(au); err != nil {
			t.Error(err)
		}
	})
	s.Close()
	if aus != 30 {
		t.Fatalf("split the input into %d access units, want 30", aus)
	}
	for i, size := range []string{"160x120", "80x60"} {
		if frames[i] < 29 {
			t.Errorf("layer %d: %d access units", i, frames[i])
		}
		cmd := exec.Command(strings.Replace(ff, "ffmpeg", "ffprobe", 1), "-v", "error", "-f", "h264", "-show_entries", "stream=width,height",
			"-of", "csv=p=0:s=x", "-")
		cmd.Stdin = bytes.NewReader(got[i])
		out, err := cmd.Output()
		if err != nil || strings.TrimSpace(string(out)) != size {
			t.Errorf("layer %d: %q %v, want %s", i, out, err, size)
		}
	}
}
