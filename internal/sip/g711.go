package sip

// G.711 (ITU-T G.711) µ-law and A-law, sample by sample.

const ulawBias = 0x84

func ulawEncode(s int16) byte {
	sign := byte(0)
	v := int(s)
	if v < 0 {
		v, sign = -v, 0x80
	}
	if v > 32635 {
		v = 32635
	}
	v += ulawBias
	exp := 7
	for mask := 0x4000; v&mask == 0 && exp > 0; mask >>= 1 {
		exp--
	}
	mant := (v >> (exp + 3)) & 0x0f
	return ^(sign | byte(exp<<4) | byte(mant))
}

func ulawDecode(b byte) int16 {
	b = ^b
	exp := int(b>>4) & 7
	mant := int(b & 0x0f)
	v := ((mant << 3) + ulawBias) << exp
	v -= ulawBias
	if b&0x80 != 0 {
		return int16(-v)
	}
	return int16(v)
}

func alawEncode(s int16) byte {
	v := int(s)
	sign := byte(0x80)
	if v < 0 {
		v, sign = -v-1, 0
	}
	if v > 32767 {
		v = 32767
	}
	var out byte
	if v < 256 {
		out = byte(v >> 4)
	} else {
		exp := 1
		for t := v >> 8; t > 1; t >>= 1 {
			exp++
		}
		out = byte(exp<<4) | byte((v>>(exp+3))&0x0f)
	}
	return (out | sign) ^ 0x55
}

func alawDecode(b byte) int16 {
	b ^= 0x55
	exp := int(b>>4) & 7
	mant := int(b & 0x0f)
	var v int
	if exp == 0 {
		v = (mant << 4) + 8
	} else {
		v = ((mant << 4) + 0x108) << (exp - 1)
	}
	if b&0x80 == 0 {
		return int16(-v)
	}
	return int16(v)
}

var (
	ulawTable [256]int16
	alawTable [256]int16
)

func init() {
	for i := range 256 {
		ulawTable[i] = ulawDecode(byte(i))
		alawTable[i] = alawDecode(byte(i))
	}
}
