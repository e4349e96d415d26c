package client

import (
	"bytes"
	"testing"
)

// oggPage builds one page holding the given lacing values and payload.
func oggPage(lacing []byte, payload []byte, granule byte) []byte {
	h := []byte("OggS\x00\x00")
	h = append(h, granule, 0, 0, 0, 0, 0, 0, 0) // granule position
	h = append(h, make([]byte, 12)...)          // serial, sequence, checksum
	h = append(h, byte(len(lacing)))
	return append(append(h, lacing...), payload...)
}

func TestOggReaderJoinsContinuedPackets(t *testing.T) {
	big := bytes.Repeat([]byte{7}, 300) // 255 + 45: continued on the next page
	var in []byte
	in = append(in, oggPage([]byte{255}, big[:255], 0)...)
	in = append(in, oggPage([]byte{45, 3}, append(big[255:], 1, 2, 3), 96)...)
	r := newOggReader(bytes.NewReader(in))
	if ps, err := r.page(); err != nil || len(ps) != 0 {
		t.Fatalf("first page: %d packets, %v", len(ps), err)
	}
	ps, err := r.page()
	if err != nil || len(ps) != 2 || !bytes.Equal(ps[0], big) || !bytes.Equal(ps[1], []byte{1, 2, 3}) {
		t.Fatalf("second page: %v packets %v", err, len(ps))
	}
	if r.granule != 96 {
		t.Fatalf("granule %d", r.granule)
	}
}

func FuzzOggReader(f *testing.F) {
	f.Add(oggPage([]byte{8}, []byte("OpusHead"), 0))
	f.Add(oggPage([]byte{255, 255}, bytes.Repeat([]byte{1}, 510), 0))
	f.Add([]byte("OggS"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s := &oggSource{r: newOggReader(bytes.NewReader(b))}
		if s.readHeaders() != nil {
			return
		}
		for range 100 {
			if _, err := s.next(); err != nil {
				return
			}
		}
	})
}
