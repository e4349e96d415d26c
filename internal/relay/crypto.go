package relay

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"

	"golang.org/x/crypto/chacha20poly1305"
)

// keySalt separates relay keys from anything else derived from the secret.
const keySalt = "rtcloud relay v1"

// linkAEAD derives the key of the directed link from -> to and returns its
// XChaCha20-Poly1305 AEAD. Each direction of each link has its own key, so
// a packet cannot be reflected back or replayed onto another link.
func linkAEAD(secret []byte, from, to string) (cipher.AEAD, error) {
	info := make([]byte, 0, len(from)+len(to)+1)
	info = append(append(append(info, from...), 0), to...)
	key, err := hkdf.Key(sha256.New, secret, []byte(keySalt), string(info), chacha20poly1305.KeySize)
	if err != nil {
		return nil, err
	}
	return chacha20poly1305.NewX(key)
}

// putNonce writes the 24-byte nonce of (epoch, counter): unique for a
// sender's key as long as its epochs (start times in ns) never repeat.
func putNonce(n *[chacha20poly1305.NonceSizeX]byte, epoch, counter uint64) {
	binary.BigEndian.PutUint64(n[0:], epoch)
	binary.BigEndian.PutUint64(n[8:], counter)
}

// replayWindow accepts each counter of one epoch at most once, within the
// last windowBits counters (RFC 6479 style bitmap).
type replayWindow struct {
	max  uint64 // highest counter accepted; 0: none yet
	bits [windowWords]uint64
}

const (
	windowWords = 32
	windowBits  = windowWords * 64
)

// check reports whether counter may be new, without recording it.
func (w *replayWindow) check(c uint64) bool {
	if c == 0 {
		return false
	}
	if c > w.max {
		return true
	}
	if w.max-c >= windowBits-64 {
		return false
	}
	return w.bits[(c/64)%windowWords]&(1<<(c%64)) == 0
}

// accept records counter c, which check allowed and authentication proved.
func (w *replayWindow) accept(c uint64) {
	if c > w.max {
		from, to := w.max/64+1, c/64
		if to-from >= windowWords {
			from = to - windowWords + 1
		}
		for i := from; i <= to; i++ {
			w.bits[i%windowWords] = 0
		}
		w.max = c
	}
	w.bits[(c/64)%windowWords] |= 1 << (c % 64)
}
