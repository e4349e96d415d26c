package bus

// ValidName reports whether s may be used as a namespace or room name:
// 1 to 128 characters from [A-Za-z0-9_-]. Such names are safe as NATS
// subject tokens and KV keys.
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}
