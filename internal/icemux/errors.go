package icemux

import "errors"

// ErrBadAddress means a bind or advertise address is not an IP address.
var ErrBadAddress = errors.New("icemux: not an IP address")

// ErrListen means the shared UDP or TCP port could not be opened.
var ErrListen = errors.New("icemux: cannot open media port")
