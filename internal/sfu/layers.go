package sfu

import (
	"strings"

	"github.com/rtcloud/rtcloud/internal/bus"
)

// Simulcast layers are indexed 0 (low) to 2 (high).
const maxLayers = 3

var layerNames = [maxLayers]string{bus.LayerLow, bus.LayerMedium, bus.LayerHigh}

// layerIndex maps a layer name to its index; ok is false for auto ("")
// and unknown names.
func layerIndex(name string) (int, bool) {
	for i, n := range layerNames {
		if n == name {
			return i, true
		}
	}
	return 0, false
}

// ridNameSets are the rid naming schemes browsers and SDKs use, low to high.
var ridNameSets = [][maxLayers]string{
	{"q", "h", "f"},
	{"l", "m", "h"},
	{"low", "mid", "high"},
	{"0", "1", "2"},
}

// mapRIDs assigns a layer index to each rid of a simulcast offer: by name
// when every rid belongs to one known scheme, else by SDP order (assumed
// low to high).
func mapRIDs(rids []string) map[string]int {
	out := make(map[string]int, len(rids))
	for _, set := range ridNameSets {
		ok := true
		for _, r := range rids {
			found := false
			for i, n := range set {
				if strings.EqualFold(r, n) {
					out[r], found = i, true
				}
			}
			ok = ok && found
		}
		if ok && len(out) == len(rids) {
			return out
		}
		clear(out)
	}
	for i, r := range rids {
		out[r] = min(i, maxLayers-1)
	}
	return out
}

// LayerSelector picks the layer an auto subscriber gets: the index into
// bitrates (bits per second of each available layer, low to high, 0 for an
// absent layer) given the subscriber's estimated bandwidth.
type LayerSelector interface {
	Select(estimate uint64, bitrates [maxLayers]uint64) int
}

// fitSelector picks the highest present layer whose bitrate fits the
// estimate, or the lowest present layer when none fits.
type fitSelector struct{}

func (fitSelector) Select(estimate uint64, bitrates [maxLayers]uint64) int {
	best, lowest := -1, -1
	for i, b := range bitrates {
		if b == 0 {
			continue
		}
		if lowest < 0 {
			lowest = i
		}
		if b <= estimate {
			best = i
		}
	}
	if best >= 0 {
		return best
	}
	if lowest >= 0 {
		return lowest
	}
	return 0
}
