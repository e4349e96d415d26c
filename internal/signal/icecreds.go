package signal

import "fmt"

// ICE credential bounds of RFC 8839 section 5.4: ice-ufrag is 4 to 256
// ice-chars, ice-pwd 22 to 256.
const (
	minUfrag, maxUfrag = 4, 256
	minPwd, maxPwd     = 22, 256
)

// checkICECredentials validates an ICE restart's ufrag and pwd: lengths,
// and only ice-chars (ALPHA / DIGIT / "+" / "/").
func checkICECredentials(ufrag, pwd string) error {
	if len(ufrag) < minUfrag || len(ufrag) > maxUfrag {
		return fmt.Errorf("%w: ice-ufrag must be %d to %d characters", ErrBadSDP, minUfrag, maxUfrag)
	}
	if len(pwd) < minPwd || len(pwd) > maxPwd {
		return fmt.Errorf("%w: ice-pwd must be %d to %d characters", ErrBadSDP, minPwd, maxPwd)
	}
	if !iceChars(ufrag) || !iceChars(pwd) {
		return fmt.Errorf("%w: ice-ufrag and ice-pwd use only letters, digits, + and /", ErrBadSDP)
	}
	return nil
}

func iceChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '+' || c == '/') {
			return false
		}
	}
	return true
}
