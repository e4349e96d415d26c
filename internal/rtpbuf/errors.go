package rtpbuf

import "errors"

// ErrTooLarge means a packet does not fit in a cache slot.
var ErrTooLarge = errors.New("rtpbuf: packet larger than a cache slot")
