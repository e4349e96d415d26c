package relay

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
)

// keySalt separates relay keys from anything else derived from the secret.
const keySalt = "rtcloud relay v1"

// linkAEAD derives the key of the directed link from -> to in the
// sender's epoch and returns its AES-256-GCM AEAD. Each direction of each
// link, and each life of the sender, has its own key: a packet cannot be
// reflected back, replayed onto another link, and a counter that starts
// over after a restart never reuses a nonce under the same key.
func linkAEAD(secret []byte, from, to string, epoch uint64) (cipher.AEAD, error) {
	info := make([]byte, 0, len(from)+len(to)+10)
	info = append(append(append(info, from...), 0), to...)
	info = binary.BigEndian.AppendUint64(append(info, 0), epoch)
	key, err := hkdf.Key(sha256.New, secret, []byte(keySalt), string(info), 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// nonceSize is AES-GCM's.
const nonceSize = 12

// putNonce writes the nonce of a counter: 4 zero bytes, the counter.
func putNonce(n *[nonceSize]byte, counter uint64) {
	binary.BigEndian.PutUint64(n[4:], counter)
}

// replayWindow accepts each counter of one epoch at most once, within the
// last windowBits counters (RFC 6479 style bitmap).
type replayWindow struct {
	max   uint64 // highest counter accepted; 0: none yet
	floor uint64 // counters up to floor are refused
	bits  [windowWords]uint64
}

const (
	windowWords = 32
	windowBits  = windowWords * 64
)

// check reports whether counter may be new, without recording it.
func (w *replayWindow) check(c uint64) bool {
	if c == 0 || c <= w.floor {
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
