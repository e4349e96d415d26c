package transcode

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Ogg framing (RFC 3533) as ffmpeg reads and writes it for Opus (RFC
// 7845): just enough to carry packets through a pipe.

var crcTable = func() (t [256]uint32) {
	for i := range t {
		r := uint32(i) << 24
		for j := 0; j < 8; j++ {
			if r&0x80000000 != 0 {
				r = r<<1 ^ 0x04c11db7
			} else {
				r <<= 1
			}
		}
		t[i] = r
	}
	return t
}()

func oggCRC(b []byte) uint32 {
	var c uint32
	for _, x := range b {
		c = c<<8 ^ crcTable[byte(c>>24)^x]
	}
	return c
}

// OggReader splits an Ogg stream into packets. It keeps only one logical
// stream's framing state and ignores checksums (the writer is a local
// ffmpeg).
type OggReader struct {
	r       io.Reader
	hdr     [27]byte
	segs    [255]byte
	partial []byte
	queue   [][]byte
}

// NewOggReader reads pages from r.
func NewOggReader(r io.Reader) *OggReader { return &OggReader{r: r} }

// Next returns the next complete packet (header packets included).
func (o *OggReader) Next() ([]byte, error) {
	for len(o.queue) == 0 {
		if err := o.page(); err != nil {
			return nil, err
		}
	}
	p := o.queue[0]
	o.queue = o.queue[1:]
	return p, nil
}

func (o *OggReader) page() error {
	if _, err := io.ReadFull(o.r, o.hdr[:]); err != nil {
		return err
	}
	if string(o.hdr[:4]) != "OggS" || o.hdr[4] != 0 {
		return fmt.Errorf("%w: not an Ogg page", ErrBadStream)
	}
	n := int(o.hdr[26])
	if _, err := io.ReadFull(o.r, o.segs[:n]); err != nil {
		return err
	}
	size := 0
	for _, s := range o.segs[:n] {
		size += int(s)
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(o.r, body); err != nil {
		return err
	}
	if o.hdr[5]&1 == 0 {
		o.partial = o.partial[:0] // not a continuation: drop a dangling packet
	}
	off := 0
	for _, s := range o.segs[:n] {
		o.partial = append(o.partial, body[off:off+int(s)]...)
		off += int(s)
		if s < 255 {
			o.queue = append(o.queue, o.partial)
			o.partial = nil
		}
	}
	return nil
}

// OggWriter writes Opus packets as an Ogg Opus stream, one packet per page.
type OggWriter struct {
	w       io.Writer
	serial  uint32
	seq     uint32
	granule uint64
	buf     []byte
}

// NewOggWriter writes the Opus identification and comment headers for a
// stream of channels at 48 kHz, then packets.
func NewOggWriter(w io.Writer, channels int) (*OggWriter, error) {
	o := &OggWriter{w: w, serial: 0x72746331}
	head := []byte("OpusHead\x01\x00\x00\x00\x80\xbb\x00\x00\x00\x00\x00")
	head[9] = byte(channels)
	binary.LittleEndian.PutUint16(head[10:], 312) // pre-skip
	if err := o.writePage(head, 2, 0); err != nil {
		return nil, err
	}
	tags := []byte("OpusTags\x07\x00\x00\x00rtcloud\x00\x00\x00\x00")
	if err := o.writePage(tags, 0, 0); err != nil {
		return nil, err
	}
	return o, nil
}

// WritePacket writes one Opus packet that lasts samples (at 48 kHz).
func (o *OggWriter) WritePacket(pkt []byte, samples int) error {
	if len(pkt) > 255*254 {
		return fmt.Errorf("%w: packet of %d bytes", ErrBadStream, len(pkt))
	}
	o.granule += uint64(samples)
	return o.writePage(pkt, 0, o.granule)
}

func (o *OggWriter) writePage(pkt []byte, flags byte, granule uint64) error {
	nseg := len(pkt)/255 + 1
	b := o.buf[:0]
	b = append(b, "OggS"...)
	b = append(b, 0, flags)
	b = binary.LittleEndian.AppendUint64(b, granule)
	b = binary.LittleEndian.AppendUint32(b, o.serial)
	b = binary.LittleEndian.AppendUint32(b, o.seq)
	b = append(b, 0, 0, 0, 0, byte(nseg))
	for i := 0; i < nseg-1; i++ {
		b = append(b, 255)
	}
	b = append(b, byte(len(pkt)%255))
	b = append(b, pkt...)
	binary.LittleEndian.PutUint32(b[22:], oggCRC(b))
	o.seq++
	o.buf = b
	_, err := o.w.Write(b)
	return err
}

// OpusSamples returns the duration of an Opus packet in 48 kHz samples
// from its TOC byte (RFC 6716 section 3.1), 0 if it is malformed.
func OpusSamples(pkt []byte) int {
	if len(pkt) == 0 {
		return 0
	}
	toc := pkt[0]
	cfg := int(toc >> 3)
	var frame int // in 48 kHz samples
	switch {
	case cfg < 12: // SILK: 10, 20, 40, 60 ms
		frame = []int{480, 960, 1920, 2880}[cfg&3]
	case cfg < 16: // hybrid: 10, 20 ms
		frame = []int{480, 960}[cfg&1]
	default: // CELT: 2.5, 5, 10, 20 ms
		frame = []int{120, 240, 480, 960}[cfg&3]
	}
	switch toc & 3 {
	case 0:
		return frame
	case 1, 2:
		return 2 * frame
	default:
		if len(pkt) < 2 {
			return 0
		}
		return int(pkt[1]&0x3f) * frame
	}
}
