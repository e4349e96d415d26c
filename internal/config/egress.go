package config

import (
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"time"
)

// Egress configures `rtcloud egress` workers (recording, room composite,
// RTMP and HLS) and where their files go.
type Egress struct {
	// OutputDir is where files and HLS directories are written; each
	// namespace has its own subdirectory. With S3 set, finished files are
	// uploaded and the local copies removed.
	OutputDir string `yaml:"output_dir"`
	// SignalURL is the WebSocket URL (ws://host/ws) of the signaling
	// server the worker joins rooms through, as a hidden participant.
	SignalURL string `yaml:"signal_url"`
	// WorkerID names the worker (default: generated).
	WorkerID string `yaml:"worker_id"`
	// CPUCapacity is how many CPU cores of work the worker takes on
	// (default: the machine's cores); CompositeCost and TrackCost are the
	// estimated cores of one room composite and of one track egress.
	CPUCapacity   float64 `yaml:"cpu_capacity"`
	CompositeCost float64 `yaml:"composite_cost"`
	TrackCost     float64 `yaml:"track_cost"`
	// FFmpeg is the ffmpeg binary (default "ffmpeg" on PATH).
	FFmpeg string `yaml:"ffmpeg"`
	// Composite output: size, frame rate and bitrates.
	Width     int `yaml:"width"`
	Height    int `yaml:"height"`
	FPS       int `yaml:"fps"`
	VideoKbps int `yaml:"video_kbps"`
	AudioKbps int `yaml:"audio_kbps"`
	// WorkerTimeout: an egress whose worker sent no heartbeat for this
	// long is marked failed.
	WorkerTimeout time.Duration `yaml:"worker_timeout"`
	// S3, when Bucket is set, receives finished files.
	S3 S3 `yaml:"s3"`
}

// S3 is an S3-compatible bucket.
type S3 struct {
	Endpoint  string `yaml:"endpoint"` // host:port
	Bucket    string `yaml:"bucket"`
	Region    string `yaml:"region"`
	AccessKey string `yaml:"access_key"`
	SecretKey string `yaml:"secret_key"`
	// Secure uses HTTPS.
	Secure bool `yaml:"secure"`
	// Prefix is put before every object key.
	Prefix string `yaml:"prefix"`
}

// DefaultEgress returns the egress defaults.
func DefaultEgress() Egress {
	return Egress{
		OutputDir:     "recordings",
		SignalURL:     "ws://127.0.0.1:7800/ws",
		CPUCapacity:   float64(runtime.NumCPU()),
		CompositeCost: 1,
		TrackCost:     0.02,
		FFmpeg:        "ffmpeg",
		Width:         1280,
		Height:        720,
		FPS:           30,
		VideoKbps:     2500,
		AudioKbps:     128,
		WorkerTimeout: 5 * time.Second,
	}
}

// Validate checks the egress settings.
func (e *Egress) Validate() error {
	var errs []error
	if e.OutputDir == "" {
		errs = append(errs, errors.New("egress.output_dir: must be set"))
	}
	if u, err := url.Parse(e.SignalURL); err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		errs = append(errs, fmt.Errorf("egress.signal_url %q: want ws://host:port/ws", e.SignalURL))
	}
	if e.CPUCapacity <= 0 || e.CompositeCost <= 0 || e.TrackCost <= 0 {
		errs = append(errs, errors.New("egress.cpu_capacity, composite_cost, track_cost: must be positive"))
	}
	if e.Width < 160 || e.Height < 90 || e.Width%2 != 0 || e.Height%2 != 0 || e.Width > 3840 || e.Height > 2160 {
		errs = append(errs, fmt.Errorf("egress.width/height %dx%d: even, 160x90 to 3840x2160", e.Width, e.Height))
	}
	if e.FPS < 1 || e.FPS > 60 {
		errs = append(errs, fmt.Errorf("egress.fps %d: 1-60", e.FPS))
	}
	if e.VideoKbps < 100 || e.AudioKbps < 16 {
		errs = append(errs, errors.New("egress.video_kbps at least 100, audio_kbps at least 16"))
	}
	if e.WorkerTimeout < time.Second {
		errs = append(errs, errors.New("egress.worker_timeout: at least 1s"))
	}
	if e.S3.Bucket != "" && e.S3.Endpoint == "" {
		errs = append(errs, errors.New("egress.s3.endpoint: required with a bucket"))
	}
	return errors.Join(errs...)
}
