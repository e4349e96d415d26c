package signal

import (
	"fmt"

	"github.com/pion/sdp/v3"
)

// maxSDPBytes bounds an SDP offer or sdpfrag body.
const maxSDPBytes = 128 << 10

// vetOffer parses an offer so obviously broken SDP never reaches a node,
// and applies the offer limits.
func (s *Server) vetOffer(offer string) error {
	d, err := parseOffer(offer)
	if err != nil {
		return err
	}
	if le := s.opts.Limits.checkOfferLimits(d); le != nil {
		return le
	}
	return nil
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
		// The parser's words stay out of the reply: the offer is the
		// client's own, but the message should not depend on a library.
		return nil, fmt.Errorf("%w: the offer does not parse", ErrBadSDP)
	}
	if len(d.MediaDescriptions) == 0 {
		return nil, fmt.Errorf("%w: the offer has no media sections", ErrBadSDP)
	}
	return &d, nil
}
