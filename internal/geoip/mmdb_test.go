package geoip

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// writeMMDB builds a small MaxMind DB: networks (non-overlapping) -> record
// maps of strings or nested maps of strings, with 24-bit records.
func writeMMDB(t testing.TB, ipVersion int, nets map[string]map[string]any) []byte {
	t.Helper()
	type node struct {
		child [2]*node
		leaf  [2]int // data index+1, 0 = none
	}
	root := &node{}
	var data []byte
	keys := make([]string, 0, len(nets))
	for k := range nets {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var offsets []int
	for _, k := range keys {
		p := netip.MustParsePrefix(k)
		var bits []byte
		n := p.Bits()
		if ipVersion == 6 && p.Addr().Is4() {
			a := netip.AddrFrom16(p.Addr().As16()).As16()
			copy(a[:12], make([]byte, 12)) // IPv4 lives under ::/96
			bits, n = a[:], n+96
		} else if p.Addr().Is4() {
			a := p.Addr().As4()
			bits = a[:]
		} else {
			a := p.Addr().As16()
			bits = a[:]
		}
		offsets = append(offsets, len(data))
		data = encodeValue(data, nets[k])
		cur := root
		for i := 0; i < n; i++ {
			b := int(bits[i/8]>>(7-i%8)) & 1
			if i == n-1 {
				cur.leaf[b] = len(offsets)
				break
			}
			if cur.child[b] == nil {
				cur.child[b] = &node{}
			}
			cur = cur.child[b]
		}
	}
	// Number nodes breadth first.
	var order []*node
	index := map[*node]int{}
	for q := []*node{root}; len(q) > 0; q = q[1:] {
		index[q[0]] = len(order)
		order = append(order, q[0])
		for _, c := range q[0].child {
			if c != nil {
				q = append(q, c)
			}
		}
	}
	count := len(order)
	var out []byte
	for _, nd := range order {
		for b := range 2 {
			v := count // empty
			switch {
			case nd.child[b] != nil:
				v = index[nd.child[b]]
			case nd.leaf[b] != 0:
				v = count + 16 + offsets[nd.leaf[b]-1]
			}
			out = append(out, byte(v>>16), byte(v>>8), byte(v))
		}
	}
	out = append(out, make([]byte, 16)...)
	out = append(out, data...)
	out = append(out, metadataMarker...)
	return encodeValue(out, map[string]any{
		"node_count": uint32(count), "record_size": uint16(24), "ip_version": uint16(ipVersion),
		"database_type": "rtcloud-test", "binary_format_major_version": uint16(2),
	})
}

func encodeValue(b []byte, v any) []byte {
	switch v := v.(type) {
	case string:
		if len(v) < 29 {
			return append(append(b, 2<<5|byte(len(v))), v...)
		}
		return append(append(b, 2<<5|29, byte(len(v)-29)), v...) // sizes 29..284

	case uint16:
		return append(b, 5<<5|2, byte(v>>8), byte(v))
	case uint32:
		b = append(b, 6<<5|4)
		return binary.BigEndian.AppendUint32(b, v)
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b = append(b, 7<<5|byte(len(v)))
		for _, k := range keys {
			b = encodeValue(encodeValue(b, k), v[k])
		}
		return b
	}
	panic("unsupported")
}

func testDB(t testing.TB, ipVersion int) []byte {
	return writeMMDB(t, ipVersion, map[string]map[string]any{
		"81.0.0.0/8":     {"country": map[string]any{"iso_code": "DE"}, "continent": map[string]any{"code": "EU"}, "isp": "Telekom"},
		"24.0.0.0/8":     {"country": map[string]any{"iso_code": "US"}, "continent": map[string]any{"code": "NA"}, "autonomous_system_organization": "Comcast"},
		"1.2.3.0/24":     {"country": map[string]any{"iso_code": "JP"}, "continent": map[string]any{"code": "AS"}},
		"203.0.113.0/24": {"region": "custom"},
	})
}

func TestMMDBLookup(t *testing.T) {
	for _, ver := range []int{4, 6} {
		db, err := Parse(testDB(t, ver))
		if err != nil {
			t.Fatalf("v%d: %v", ver, err)
		}
		cases := map[string]Record{
			"81.10.20.30":     {Country: "DE", Continent: "EU", ISP: "Telekom"},
			"::ffff:24.1.1.1": {Country: "US", Continent: "NA", ISP: "Comcast"},
			"1.2.3.200":       {Country: "JP", Continent: "AS"},
			"203.0.113.9":     {Region: "custom"},
		}
		for ip, want := range cases {
			rec, found, err := db.Lookup(netip.MustParseAddr(ip))
			if err != nil || !found || rec != want {
				t.Errorf("v%d %s: %+v %v %v, want %+v", ver, ip, rec, found, err, want)
			}
		}
		for _, ip := range []string{"1.2.4.1", "9.9.9.9"} {
			if _, found, err := db.Lookup(netip.MustParseAddr(ip)); found || err != nil {
				t.Errorf("v%d %s: found=%v err=%v, want not found", ver, ip, found, err)
			}
		}
	}
}

func TestResolverTableThenDB(t *testing.T) {
	p := filepath.Join(t.TempDir(), "t.mmdb")
	if err := os.WriteFile(p, testDB(t, 6), 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(Options{
		Table: []Entry{{CIDR: "10.0.0.0/8", Region: "eu"}, {CIDR: "10.2.0.0/16", Region: "us", ISP: "lab"},
			{CIDR: "81.1.0.0/16", Region: "override"}},
		DB:               db,
		CountryRegions:   map[string]string{"US": "us"},
		ContinentRegions: map[string]string{"EU": "eu", "AS": "ap", "NA": "us-fallback"},
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]Location{
		"10.1.1.1":    {Region: "eu", Source: "cidr"},
		"10.2.1.1":    {Region: "us", ISP: "lab", Source: "cidr"},
		"81.1.2.3":    {Region: "override", Source: "cidr"},
		"81.2.2.3":    {Region: "eu", ISP: "Telekom", Country: "DE", Source: "mmdb"},
		"24.5.5.5":    {Region: "us", ISP: "Comcast", Country: "US", Source: "mmdb"},
		"1.2.3.4":     {Region: "ap", Country: "JP", Source: "mmdb"},
		"203.0.113.1": {Region: "custom", Source: "mmdb"},
	}
	for ip, want := range cases {
		got, ok := r.Lookup(netip.MustParseAddr(ip))
		if !ok || got != want {
			t.Errorf("%s: %+v %v, want %+v", ip, got, ok, want)
		}
	}
	if _, ok := r.Lookup(netip.MustParseAddr("8.8.8.8")); ok {
		t.Error("8.8.8.8 should be unknown")
	}
	if _, ok := r.Lookup(netip.Addr{}); ok {
		t.Error("invalid address should be unknown")
	}
}

func TestBadInput(t *testing.T) {
	if _, err := New(Options{Table: []Entry{{CIDR: "10.0.0.0/33"}}}); !errors.Is(err, ErrBadCIDR) {
		t.Errorf("err = %v, want ErrBadCIDR", err)
	}
	good := testDB(t, 4)
	for name, b := range map[string][]byte{
		"empty":     nil,
		"no marker": []byte("hello"),
		"truncated": good[len(good)-40:],
		"cut tree":  append(append([]byte{}, metadataMarker...), good[len(good)-90:]...),
	} {
		if _, err := Parse(b); !errors.Is(err, ErrBadDatabase) {
			t.Errorf("%s: err = %v, want ErrBadDatabase", name, err)
		}
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing.mmdb")); err == nil {
		t.Error("missing file: want error")
	}
}

// FuzzParse feeds arbitrary bytes to the database reader: it must return an
// error or a database whose lookups do not panic.
func FuzzParse(f *testing.F) {
	f.Add(testDB(f, 4))
	f.Add(testDB(f, 6))
	f.Add([]byte("\xab\xcd\xefMaxMind.com\xe3"))
	f.Fuzz(func(t *testing.T, b []byte) {
		db, err := Parse(b)
		if err != nil {
			return
		}
		for _, ip := range []string{"81.1.1.1", "1.2.3.4", "::1", "2001:db8::1"} {
			_, _, _ = db.Lookup(netip.MustParseAddr(ip))
		}
	})
}
