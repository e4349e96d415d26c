package egress

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/config"
)

// target is one output of a composite, resolved to local paths.
type target struct {
	out   bus.EgressOutput
	local string // file path, or HLS directory
}

// teeEscape escapes a value for ffmpeg's tee muxer syntax.
func teeEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `:`, `\:`, `|`, `\|`, `[`, `\[`, `]`, `\]`)
	return r.Replace(s)
}

// teeSpec is the tee muxer's list of slaves: fragmented MP4 (playable
// even if ffmpeg dies), MPEG-TS, FLV to RTMP (a failing RTMP server does
// not stop the others) and HLS.
func teeSpec(ts []target) string {
	var parts []string
	for _, t := range ts {
		switch {
		case t.out.File != "" && filepath.Ext(t.local) == ".ts":
			parts = append(parts, "[f=mpegts:flush_packets=1]"+teeEscape(t.local))
		case t.out.File != "":
			parts = append(parts, "[f=mp4:movflags=+frag_keyframe+empty_moov+default_base_moof:flush_packets=1]"+teeEscape(t.local))
		case t.out.RTMP != "":
			parts = append(parts, "[f=flv:onfail=ignore:flvflags=no_duration_filesize]"+t.out.RTMP)
		case t.out.HLS != "":
			seg := filepath.Join(t.local, "seg_%05d.ts")
			parts = append(parts, "[f=hls:hls_time=2:hls_list_size=0:hls_flags=independent_segments:hls_segment_filename="+
				teeEscape(seg)+"]"+teeEscape(filepath.Join(t.local, "index.m3u8")))
		}
	}
	return strings.Join(parts, "|")
}

// encoderArgs is the ffmpeg command line of a composite: raw video on
// stdin, raw PCM on fd 3, H.264 and AAC out through the tee muxer.
func encoderArgs(c config.Egress, ts []target) []string {
	fps := strconv.Itoa(c.FPS)
	vk := strconv.Itoa(c.VideoKbps) + "k"
	return []string{
		"-hide_banner", "-loglevel", "error", "-nostats",
		"-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", fmt.Sprintf("%dx%d", c.Width, c.Height), "-framerate", fps,
		"-thread_queue_size", "512", "-i", "pipe:0",
		"-f", "s16le", "-ar", "48000", "-ac", "2", "-thread_queue_size", "512", "-i", "pipe:3",
		"-map", "0:v", "-map", "1:a",
		"-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
		"-g", strconv.Itoa(2 * c.FPS), "-keyint_min", strconv.Itoa(2 * c.FPS), "-sc_threshold", "0",
		"-b:v", vk, "-maxrate", vk, "-bufsize", strconv.Itoa(2*c.VideoKbps) + "k",
		"-c:a", "aac", "-b:a", strconv.Itoa(c.AudioKbps) + "k",
		"-flags", "+global_header",
		"-f", "tee", teeSpec(ts),
	}
}

// results describes what each target holds after the encoder ended.
func (t target) result() bus.EgressResult {
	r := bus.EgressResult{EgressOutput: t.out, Location: t.local}
	switch {
	case t.out.RTMP != "":
		r.Location = t.out.RTMP
	case t.out.HLS != "":
		r.Playlist = filepath.Join(t.local, "index.m3u8")
		segs, _ := filepath.Glob(filepath.Join(t.local, "seg_*.ts"))
		r.Segments = len(segs)
		for _, s := range segs {
			if st, err := os.Stat(s); err == nil {
				r.Bytes += st.Size()
			}
		}
	default:
		if st, err := os.Stat(t.local); err == nil {
			r.Bytes = st.Size()
		}
	}
	return r
}
