package egress

import (
	"fmt"
	"net/url"
	"path"
	"strings"

	"github.com/rtcloud/rtcloud/internal/bus"
)

// MaxOutputs bounds the outputs of one egress.
const MaxOutputs = 8

// Validate checks a request and fills its defaults (layout grid).
func Validate(r *bus.EgressRequest) error {
	if !bus.ValidName(r.Namespace) {
		return fmt.Errorf("%w: namespace %q: use 1-128 characters of A-Z a-z 0-9 _ -", ErrBadRequest, r.Namespace)
	}
	if !bus.ValidName(r.Room) {
		return fmt.Errorf("%w: room %q: use 1-128 characters of A-Z a-z 0-9 _ -", ErrBadRequest, r.Room)
	}
	if len(r.Outputs) == 0 || len(r.Outputs) > MaxOutputs {
		return fmt.Errorf("%w: outputs: give 1 to %d", ErrBadRequest, MaxOutputs)
	}
	switch r.Type {
	case bus.EgressTypeTrack:
		if r.TrackID == "" || len(r.TrackID) > 128 {
			return fmt.Errorf("%w: track_id is required for a track egress", ErrBadRequest)
		}
		if r.Layout != "" {
			return fmt.Errorf("%w: layout is for room egress only", ErrBadRequest)
		}
	case bus.EgressTypeRoom:
		if r.TrackID != "" {
			return fmt.Errorf("%w: track_id is for track egress only", ErrBadRequest)
		}
		switch r.Layout {
		case "":
			r.Layout = bus.LayoutGrid
		case bus.LayoutGrid, bus.LayoutSpeaker:
		default:
			return fmt.Errorf("%w: layout %q: use grid or speaker", ErrBadRequest, r.Layout)
		}
	default:
		return fmt.Errorf("%w: type %q: use room or track", ErrBadRequest, r.Type)
	}
	files := map[string]bool{}
	for i := range r.Outputs {
		r.Outputs[i].HLS = strings.TrimSuffix(r.Outputs[i].HLS, "/") // "dir/" names the directory dir
	}
	for i, o := range r.Outputs {
		if err := validateOutput(r.Type, o); err != nil {
			return fmt.Errorf("%w: outputs[%d]: %w", ErrBadRequest, i, err)
		}
		for _, name := range []string{o.File, o.HLS} {
			if name != "" && files[name] {
				return fmt.Errorf("%w: outputs[%d]: %q given twice", ErrBadRequest, i, name)
			}
			files[name] = name != ""
		}
	}
	return nil
}

func validateOutput(typ string, o bus.EgressOutput) error {
	n := 0
	for _, s := range []string{o.File, o.RTMP, o.HLS} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf("set exactly one of file, rtmp, hls")
	}
	switch {
	case o.File != "":
		if err := CheckName(o.File); err != nil {
			return err
		}
		ext := path.Ext(o.File)
		if typ == bus.EgressTypeRoom && ext != ".mp4" && ext != ".ts" {
			return fmt.Errorf("file %q: a room composite writes .mp4 or .ts", o.File)
		}
		if typ == bus.EgressTypeTrack && !trackExts[ext] {
			return fmt.Errorf("file %q: a track egress writes .webm, .ogg, .opus, .ts or .mp4", o.File)
		}
	case o.RTMP != "":
		if typ != bus.EgressTypeRoom {
			return fmt.Errorf("rtmp is for room composite only")
		}
		return CheckRTMP(o.RTMP)
	case o.HLS != "":
		if typ != bus.EgressTypeRoom {
			return fmt.Errorf("hls is for room composite only")
		}
		return CheckName(o.HLS)
	}
	if typ == bus.EgressTypeTrack && o.File == "" {
		return fmt.Errorf("a track egress writes files only")
	}
	return nil
}

var trackExts = map[string]bool{".webm": true, ".ogg": true, ".opus": true, ".ts": true, ".mp4": true}

// CheckName accepts a relative path of simple names: no "..", no leading
// "/", only A-Z a-z 0-9 . _ - and "/" between names.
func CheckName(name string) error {
	if name == "" || len(name) > 255 {
		return fmt.Errorf("name %q: 1-255 characters", name)
	}
	for _, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == '/'
		if !ok {
			return fmt.Errorf("name %q: only A-Z a-z 0-9 . _ - and /", name)
		}
	}
	if path.IsAbs(name) || path.Clean(name) != name {
		return fmt.Errorf("name %q: must be a clean relative path", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." || part == "." || strings.HasPrefix(part, ".") {
			return fmt.Errorf("name %q: no path traversal or hidden names", name)
		}
	}
	return nil
}

// CheckRTMP accepts rtmp:// and rtmps:// URLs with a host and no
// characters that ffmpeg's tee muxer treats specially.
func CheckRTMP(s string) error {
	if len(s) > 1024 || strings.ContainsAny(s, "|[]\\ \t\r\n'\"") {
		return fmt.Errorf("rtmp URL: bad characters or too long")
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("rtmp URL: %v", err)
	}
	if u.Scheme != "rtmp" && u.Scheme != "rtmps" {
		return fmt.Errorf("rtmp URL %q: scheme must be rtmp or rtmps", s)
	}
	if u.Host == "" || u.Path == "" || u.Path == "/" {
		return fmt.Errorf("rtmp URL %q: needs a host and an app/stream path", s)
	}
	return nil
}
