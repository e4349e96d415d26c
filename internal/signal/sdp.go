package signal

import (
	"fmt"

	"github.com/pion/sdp/v3"
)

// maxSDPBytes bounds an SDP offer or sdpfrag body.
const maxSDPBytes = 128 << 10

// checkOffer parses an offer so obviously broken SDP never reaches a node.
func checkOffer(offer string) error {
	_, err := parseOffer(offer)
	return err
}

func parseOffer(offer string) (*sdp.SessionDescription, error) {
	if offer == "" {
		return nil, fmt.Errorf("%w: the offer is empty", ErrBadSDP)
	}
	if len(offer) > maxSDPBytes {
		return nil, fmt.Errorf("%w: the offer is over 128 KiB", ErrBadSDP)
	}
	var d sdp.SessionDescription
	if err := d.UnmarshalString(offer); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	if len(d.MediaDescriptions) == 0 {
		return nil, fmt.Errorf("%w: the offer has no media sections", ErrBadSDP)
	}
	return &d, nil
}
