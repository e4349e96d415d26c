package sfu

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
	"github.com/rtcloud/rtcloud/internal/bus"
)

// mediaInfo is what the node needs from one m-line of an SDP.
type mediaInfo struct {
	mid    string
	kind   string // audio, video or application
	dir    string // sendrecv, sendonly, recvonly or inactive, as written
	rids   []string
	mimes  []string // lower case, in offer order
	clock  []uint32
	extIDs map[string]uint8
}

func (m mediaInfo) sends() bool    { return m.dir == "sendrecv" || m.dir == "sendonly" }
func (m mediaInfo) receives() bool { return m.dir == "sendrecv" || m.dir == "recvonly" }

// parseSDP reads the m-lines of an SDP; it fails on anything that does not
// parse.
func parseSDP(s string) ([]mediaInfo, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("%w: empty", ErrBadSDP)
	}
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(s); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSDP, err)
	}
	if err := checkSDPLimits(&sd); err != nil {
		return nil, err
	}
	out := make([]mediaInfo, 0, len(sd.MediaDescriptions))
	for _, md := range sd.MediaDescriptions {
		mi := mediaInfo{kind: md.MediaName.Media, dir: "sendrecv", extIDs: map[string]uint8{}}
		for _, a := range md.Attributes {
			switch a.Key {
			case "mid":
				mi.mid = a.Value
			case "sendrecv", "sendonly", "recvonly", "inactive":
				mi.dir = a.Key
			case "rid":
				if f := strings.Fields(a.Value); len(f) >= 2 && f[1] == "send" {
					mi.rids = append(mi.rids, f[0])
				}
			case "rtpmap":
				if f := strings.Fields(a.Value); len(f) == 2 {
					name, rate, _ := strings.Cut(f[1], "/")
					r, _ := strconv.ParseUint(strings.Split(rate, "/")[0], 10, 32)
					mi.mimes = append(mi.mimes, strings.ToLower(mi.kind+"/"+name))
					mi.clock = append(mi.clock, uint32(r))
				}
			case "extmap":
				if f := strings.Fields(a.Value); len(f) >= 2 {
					id, _, _ := strings.Cut(f[0], "/")
					if v, err := strconv.ParseUint(id, 10, 8); err == nil {
						mi.extIDs[f[1]] = uint8(v)
					}
				}
			}
		}
		if md.MediaName.Port.Value == 0 && mi.kind != "application" {
			mi.dir = "inactive" // rejected or stopped m-line
		}
		out = append(out, mi)
	}
	return out, nil
}

// usable reports whether an offer has anything the node can serve: a data
// channel or an audio/video m-line with a codec the node supports.
func usable(infos []mediaInfo) bool {
	supported := map[string]bool{}
	for _, c := range codecs() {
		supported[strings.ToLower(c.MimeType)] = true
	}
	for _, mi := range infos {
		if mi.kind == "application" {
			return true
		}
		for _, m := range mi.mimes {
			if supported[m] {
				return true
			}
		}
	}
	return false
}

func findMID(infos []mediaInfo, mid string) (mediaInfo, bool) {
	for _, mi := range infos {
		if mi.mid == mid {
			return mi, true
		}
	}
	return mediaInfo{}, false
}

func hasMime(mi mediaInfo, mime string) bool {
	for _, m := range mi.mimes {
		if strings.EqualFold(m, mime) {
			return true
		}
	}
	return false
}

func defaultSource(kind string) string {
	if kind == bus.KindAudio {
		return bus.SourceMicrophone
	}
	return bus.SourceCamera
}
