package client

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pion/webrtc/v4/pkg/media"
)

// oggReader splits an Ogg stream (RFC 3533) into packets: a packet ends
// with a lacing value under 255 and may continue on the next page.
type oggReader struct {
	r       *bufio.Reader
	partial []byte // a packet continued on the next page
	granule uint64 // granule position of the last page read
}

func newOggReader(r io.Reader) *oggReader { return &oggReader{r: bufio.NewReader(r)} }

// maxOggPacket bounds a packet assembled from continued pages.
const maxOggPacket = 1 << 20

// page reads one page and returns the packets it completes.
func (o *oggReader) page() ([][]byte, error) {
	var hdr [27]byte
	if _, err := io.ReadFull(o.r, hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, io.EOF
		}
		return nil, err
	}
	if !bytes.Equal(hdr[:4], []byte("OggS")) || hdr[4] != 0 {
		return nil, fmt.Errorf("%w: Ogg: bad page signature", ErrBadMedia)
	}
	o.granule = binary.LittleEndian.Uint64(hdr[6:14])
	lacing := make([]byte, hdr[26])
	if _, err := io.ReadFull(o.r, lacing); err != nil {
		return nil, io.EOF
	}
	var packets [][]byte
	for _, n := range lacing {
		seg := make([]byte, n)
		if _, err := io.ReadFull(o.r, seg); err != nil {
			return nil, io.EOF
		}
		o.partial = append(o.partial, seg...)
		if len(o.partial) > maxOggPacket {
			return nil, fmt.Errorf("%w: Ogg: packet over %d bytes", ErrBadMedia, maxOggPacket)
		}
		if n < 255 {
			packets = append(packets, o.partial)
			o.partial = nil
		}
	}
	return packets, nil
}

// oggSource yields the Opus packets of an Ogg stream, each lasting its
// share of the page's granule advance (48 kHz samples).
type oggSource struct {
	r        *oggReader
	queue    [][]byte
	duration time.Duration // of each packet in queue
	last     uint64        // granule position of the previous page
}

// readHeaders reads the identification and comment headers (RFC 7845).
func (s *oggSource) readHeaders() error {
	var headers [][]byte
	for len(headers) < 2 {
		ps, err := s.r.page()
		if err != nil {
			return fmt.Errorf("%w: Ogg headers: %w", ErrBadMedia, err)
		}
		headers = append(headers, ps...)
	}
	if !bytes.HasPrefix(headers[0], []byte("OpusHead")) {
		return fmt.Errorf("%w: Ogg stream is not Opus", ErrBadMedia)
	}
	s.queue = headers[2:]
	s.duration = 20 * time.Millisecond
	return nil
}

func (s *oggSource) next() (media.Sample, error) {
	for len(s.queue) == 0 {
		ps, err := s.r.page()
		if err != nil {
			return media.Sample{}, err
		}
		if len(ps) == 0 {
			continue
		}
		s.duration = 20 * time.Millisecond
		if g := s.r.granule; g > s.last && s.last > 0 {
			s.duration = time.Duration(g-s.last) * time.Second / 48000 / time.Duration(len(ps))
		}
		s.last = s.r.granule
		s.queue = ps
	}
	p := s.queue[0]
	s.queue = s.queue[1:]
	return media.Sample{Data: p, Duration: s.duration}, nil
}
