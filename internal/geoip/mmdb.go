package geoip

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
	"os"
)

// DB is a MaxMind DB (.mmdb) file held in memory: GeoLite2/GeoIP2 City,
// Country, ISP or ASN databases, or any database of the same format. It is
// immutable and safe for concurrent use.
type DB struct {
	data       []byte // the whole file
	tree       []byte
	dataSec    []byte
	nodeCount  uint64
	recordSize int
	ipVersion  int
	ipv4Start  uint64 // node to start IPv4 lookups at in an IPv6 tree
}

// Record is the part of a database entry placement uses.
type Record struct {
	Country   string // country.iso_code
	Continent string // continent.code
	ISP       string // isp, organization or autonomous_system_organization
	Region    string // a top-level "region" string, for custom databases
}

var metadataMarker = []byte("\xab\xcd\xefMaxMind.com")

const maxDepth = 32

// Open reads a .mmdb file.
func Open(path string) (*DB, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("geoip: %w", err)
	}
	db, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return db, nil
}

// Parse reads a database from its bytes.
func Parse(b []byte) (*DB, error) {
	i := bytes.LastIndex(b, metadataMarker)
	if i < 0 {
		return nil, fmt.Errorf("%w: no metadata marker", ErrBadDatabase)
	}
	meta := b[i+len(metadataMarker):]
	v, _, err := decode(meta, 0, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: metadata: %v", ErrBadDatabase, err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: metadata is not a map", ErrBadDatabase)
	}
	db := &DB{data: b}
	nc, _ := m["node_count"].(uint64)
	rs, _ := m["record_size"].(uint64)
	iv, _ := m["ip_version"].(uint64)
	db.nodeCount, db.recordSize, db.ipVersion = nc, int(rs), int(iv)
	if db.recordSize != 24 && db.recordSize != 28 && db.recordSize != 32 {
		return nil, fmt.Errorf("%w: record_size %d", ErrBadDatabase, db.recordSize)
	}
	if db.ipVersion != 4 && db.ipVersion != 6 {
		return nil, fmt.Errorf("%w: ip_version %d", ErrBadDatabase, db.ipVersion)
	}
	treeSize := db.nodeCount * uint64(db.recordSize) / 4
	if db.nodeCount == 0 || treeSize+16 > uint64(i) {
		return nil, fmt.Errorf("%w: node_count %d does not fit the file", ErrBadDatabase, db.nodeCount)
	}
	db.tree = b[:treeSize]
	db.dataSec = b[treeSize+16 : i]
	if db.ipVersion == 6 {
		node := uint64(0)
		for range 96 {
			if node >= db.nodeCount {
				break
			}
			node = db.record(node, 0)
		}
		db.ipv4Start = node
	}
	return db, nil
}

// record reads the left (bit 0) or right (bit 1) record of node.
func (db *DB) record(node uint64, bit int) uint64 {
	t := db.tree[node*uint64(db.recordSize)/4:]
	switch db.recordSize {
	case 24:
		o := bit * 3
		return uint64(t[o])<<16 | uint64(t[o+1])<<8 | uint64(t[o+2])
	case 28:
		if bit == 0 {
			return uint64(t[3]&0xf0)<<20 | uint64(t[0])<<16 | uint64(t[1])<<8 | uint64(t[2])
		}
		return uint64(t[3]&0x0f)<<24 | uint64(t[4])<<16 | uint64(t[5])<<8 | uint64(t[6])
	default:
		return uint64(binary.BigEndian.Uint32(t[bit*4:]))
	}
}

// Lookup finds the record of ip; found is false when the database has none.
func (db *DB) Lookup(ip netip.Addr) (rec Record, found bool, err error) {
	ip = ip.Unmap()
	var bits []byte
	node := uint64(0)
	switch {
	case ip.Is4() && db.ipVersion == 6:
		a := ip.As4()
		bits, node = a[:], db.ipv4Start
	case ip.Is4():
		a := ip.As4()
		bits = a[:]
	case db.ipVersion == 6:
		a := ip.As16()
		bits = a[:]
	default:
		return Record{}, false, nil
	}
	for i := 0; i < len(bits)*8 && node < db.nodeCount; i++ {
		node = db.record(node, int(bits[i/8]>>(7-i%8))&1)
	}
	if node <= db.nodeCount {
		return Record{}, false, nil
	}
	off := node - db.nodeCount - 16
	if off >= uint64(len(db.dataSec)) {
		return Record{}, false, fmt.Errorf("%w: data pointer out of range", ErrBadDatabase)
	}
	v, _, err := decode(db.dataSec, int(off), 0)
	if err != nil {
		return Record{}, false, fmt.Errorf("%w: %v", ErrBadDatabase, err)
	}
	m, _ := v.(map[string]any)
	rec = Record{
		Country:   str(m, "country", "iso_code"),
		Continent: str(m, "continent", "code"),
		ISP:       firstOf(str(m, "isp"), str(m, "organization"), str(m, "autonomous_system_organization")),
		Region:    str(m, "region"),
	}
	return rec, true, nil
}

func str(m map[string]any, path ...string) string {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = mm[p]
	}
	s, _ := v.(string)
	return s
}

func firstOf(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// decode reads one value of the MaxMind data format at off in sec and
// returns it and the offset after it.
func decode(sec []byte, off, depth int) (any, int, error) {
	if depth > maxDepth {
		return nil, 0, fmt.Errorf("nesting deeper than %d", maxDepth)
	}
	need := func(n int) error {
		if off+n > len(sec) || n < 0 {
			return fmt.Errorf("truncated at %d", off)
		}
		return nil
	}
	if err := need(1); err != nil {
		return nil, 0, err
	}
	ctrl := sec[off]
	off++
	typ := int(ctrl >> 5)
	if typ == 1 {
		return decodePointer(sec, ctrl, off, depth)
	}
	if typ == 0 {
		if err := need(1); err != nil {
			return nil, 0, err
		}
		typ = 7 + int(sec[off])
		off++
	}
	size := int(ctrl & 0x1f)
	if size >= 29 {
		n := size - 28
		if err := need(n); err != nil {
			return nil, 0, err
		}
		v := 0
		for _, c := range sec[off : off+n] {
			v = v<<8 | int(c)
		}
		off += n
		size = []int{29, 285, 65821}[n-1] + v
	}
	return decodeValue(sec, typ, size, off, depth)
}

func decodePointer(sec []byte, ctrl byte, off, depth int) (any, int, error) {
	n := int(ctrl>>3&3) + 1
	if off+n > len(sec) {
		return nil, 0, fmt.Errorf("truncated pointer at %d", off)
	}
	p := 0
	if n < 4 {
		p = int(ctrl & 7)
	}
	for _, c := range sec[off : off+n] {
		p = p<<8 | int(c)
	}
	p += []int{0, 2048, 526336, 0}[n-1]
	v, _, err := decode(sec, p, depth+1)
	return v, off + n, err
}

func decodeValue(sec []byte, typ, size, off, depth int) (any, int, error) {
	fixed := func(n int) error {
		if size > n || off+size > len(sec) {
			return fmt.Errorf("bad size %d for type %d at %d", size, typ, off)
		}
		return nil
	}
	uintOf := func() uint64 {
		var v uint64
		for _, c := range sec[off : off+size] {
			v = v<<8 | uint64(c)
		}
		return v
	}
	switch typ {
	case 2, 4: // string, bytes
		if off+size > len(sec) {
			return nil, 0, fmt.Errorf("truncated string at %d", off)
		}
		if typ == 2 {
			return string(sec[off : off+size]), off + size, nil
		}
		return append([]byte(nil), sec[off:off+size]...), off + size, nil
	case 3, 15: // double, float
		n := map[int]int{3: 8, 15: 4}[typ]
		if size != n || off+n > len(sec) {
			return nil, 0, fmt.Errorf("bad float size %d at %d", size, off)
		}
		if n == 8 {
			return math.Float64frombits(binary.BigEndian.Uint64(sec[off:])), off + 8, nil
		}
		return float64(math.Float32frombits(binary.BigEndian.Uint32(sec[off:]))), off + 4, nil
	case 5, 6, 8, 9, 10: // uint16, uint32, int32, uint64, uint128 (low 64 bits)
		if err := fixed(map[int]int{5: 2, 6: 4, 8: 4, 9: 8, 10: 16}[typ]); err != nil {
			return nil, 0, err
		}
		return uintOf(), off + size, nil
	case 7:
		return decodeMap(sec, size, off, depth)
	case 11:
		return decodeArray(sec, size, off, depth)
	case 14:
		return size != 0, off, nil
	default:
		return nil, 0, fmt.Errorf("unsupported type %d at %d", typ, off)
	}
}

func decodeMap(sec []byte, size, off, depth int) (any, int, error) {
	if size > len(sec)-off {
		return nil, 0, fmt.Errorf("map of %d entries at %d is too large", size, off)
	}
	m := make(map[string]any, size)
	for range size {
		k, next, err := decode(sec, off, depth+1)
		if err != nil {
			return nil, 0, err
		}
		ks, ok := k.(string)
		if !ok {
			return nil, 0, fmt.Errorf("map key at %d is not a string", off)
		}
		v, next2, err := decode(sec, next, depth+1)
		if err != nil {
			return nil, 0, err
		}
		m[ks], off = v, next2
	}
	return m, off, nil
}

func decodeArray(sec []byte, size, off, depth int) (any, int, error) {
	if size > len(sec)-off {
		return nil, 0, fmt.Errorf("array of %d entries at %d is too large", size, off)
	}
	a := make([]any, 0, size)
	for range size {
		v, next, err := decode(sec, off, depth+1)
		if err != nil {
			return nil, 0, err
		}
		a, off = append(a, v), next
	}
	return a, off, nil
}
