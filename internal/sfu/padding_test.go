package sfu

import (
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/rtcloud/rtcloud/internal/bus"
)

// TestPaddedPausedLayerGoesIdle: Chromium goes on sending padding-only
// packets (bandwidth probes) on the SSRC of a simulcast layer it paused
// for lack of bandwidth. Such a layer sends no frame: it goes idle like a
// silent one, and a subscriber wanting it is given the highest layer that
// still carries media.
func TestPaddedPausedLayerGoesIdle(t *testing.T) {
	up := newUpTrack("TR_pad", bus.Participant{}, bus.KindVideo, webrtc.MimeTypeVP8, 90000, true, nil)
	for i, l := range up.layers {
		l.present.Store(true)
		l.ssrc.Store(uint32(100 + i))
	}
	media := []byte{0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0} // a VP8 payload descriptor and some bytes
	var seq [maxLayers]uint16
	send := func(idx int, padding bool) {
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq[idx], SSRC: up.layers[idx].ssrc.Load()}}
		if padding {
			p.Header.Padding, p.PaddingSize = true, 200
		} else {
			p.Payload = media
		}
		seq[idx]++
		raw, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		var scratch rtp.Packet
		up.forward(up.layers[idx], raw, &scratch)
	}
	// Two seconds of ticks: the low and medium layers carry media, the
	// high layer only padding.
	for range 8 {
		for range 10 {
			send(0, false)
			send(1, false)
			send(2, true)
		}
		up.updateRates(maintenanceInterval)
	}
	if !up.layers[2].idle.Load() {
		t.Fatalf("a layer sending only padding is not idle (bitrate %d)", up.layers[2].bitrate.Load())
	}
	if up.layers[0].idle.Load() || up.layers[1].idle.Load() {
		t.Fatal("a layer carrying media is idle")
	}
	if got := up.resolveLayer(2); got != 1 {
		t.Fatalf("wanting the high layer resolves to %d, want 1 (the highest carrying media)", got)
	}
	if b := up.presentBitrates(); b[2] != 0 || b[1] == 0 {
		t.Fatalf("bitrates offered to automatic choice %v, want the padded layer out", b)
	}
	// Media on the high layer again: it is usable at the next tick.
	send(2, false)
	up.updateRates(maintenanceInterval)
	if up.layers[2].idle.Load() {
		t.Fatal("the high layer stays idle once media flows again")
	}
}
