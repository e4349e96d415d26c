package relay

import (
	"slices"
	"testing"
)

// nacked decodes a NACK into the sequence numbers it asks for.
func nacked(t *testing.T, b []byte) []int64 {
	t.Helper()
	n, err := nackEntries(b)
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for i := range n {
		seq, mask := nackEntry(b, i)
		out = append(out, int64(seq))
		for j := range 16 {
			if mask&(1<<j) != 0 {
				out = append(out, int64(seq)+int64(j)+1)
			}
		}
	}
	return out
}

func TestWindowGapsAndNACK(t *testing.T) {
	var w dataWindow
	buf := make([]byte, nackHead+maxNACKEntries*nackEntrySize)
	for _, s := range []int64{10, 11, 14, 40} {
		if v, _ := w.arrive(s, true, 0); v != arriveNew {
			t.Fatalf("arrive %d: %v", s, v)
		}
	}
	// Missing: 12, 13, 15..39 (27 packets).
	if w.missing != 27 {
		t.Fatalf("missing %d", w.missing)
	}
	if n, _ := w.nack(buf, 1, 5, 10, 3); n != 0 {
		t.Fatal("NACK before the delay")
	}
	n, asked := w.nack(buf, 10, 5, 10, 3)
	want := append([]int64{12, 13}, func() (r []int64) {
		for s := int64(15); s < 40; s++ {
			r = append(r, s)
		}
		return
	}()...)
	if got := nacked(t, buf[:n]); !slices.Equal(got, want) || asked != len(want) {
		t.Fatalf("NACK %v (%d), want %v", got, asked, want)
	}
	if n, _ := w.nack(buf, 15, 5, 10, 3); n != 0 {
		t.Fatal("NACK again before the retry interval")
	}
	if v, _ := w.arrive(13, false, 16); v != arriveRecovered {
		t.Fatalf("retransmission: %v", v)
	}
	if v, _ := w.arrive(13, false, 16); v != arriveDuplicate {
		t.Fatalf("second copy: %v", v)
	}
	n, _ = w.nack(buf, 21, 5, 10, 3)
	if got := nacked(t, buf[:n]); len(got) != 26 || got[0] != 12 || slices.Contains(got, 13) {
		t.Fatalf("second NACK %v", got)
	}
	w.nack(buf, 40, 5, 10, 3)
	if n, _ := w.nack(buf, 80, 5, 10, 3); n != 0 {
		t.Fatal("NACK after the last try")
	}
	// A jump beyond the window gives up on what was still missing.
	if _, lost := w.arrive(40+2*winSize, true, 90); lost != 26 {
		t.Fatalf("lost %d, want 26", lost)
	}
	if v, _ := w.arrive(12, false, 91); v != arriveStale {
		t.Fatalf("packet behind the window: %v", v)
	}
	// Nearly all of the stretch since the start was lost.
	if loss, exp := w.lossSample(); exp == 0 || loss < 0.9 {
		t.Fatalf("loss %.3f over %d", loss, exp)
	}
}

func TestWindowUnwrap(t *testing.T) {
	var w dataWindow
	w.arrive(int64(0xfffffffe), true, 0)
	if s := w.unwrap(1); s != 0x100000001 {
		t.Fatalf("unwrap past 2^32: %#x", s)
	}
	if s := w.unwrap(0xfffffff0); s != 0xfffffff0 {
		t.Fatalf("unwrap behind: %#x", s)
	}
}

// FEC alone rebuilds any k of k+m shards, packets of different lengths.
func TestFECRebuildsAGroup(t *testing.T) {
	tr := listen(t, "a", newSink(), nil)
	var rx fecReceiver
	const k, m = 5, 2
	enc, err := tr.codecs.get(k, m)
	if err != nil {
		t.Fatal(err)
	}
	pk := make([][]byte, k)
	sl := 0
	for i := range k {
		p := media(uint32(i), "b")
		p.Payload = p.Payload[:100+i*37]
		b := make([]byte, maxShard)
		n := putData(b[2:], p, 1, uint32(100+i), flagFEC)
		b[0], b[1] = byte(n>>8), byte(n)
		pk[i] = b
		sl = max(sl, n+2)
	}
	shards := make([][]byte, k+m)
	for i := range k {
		clear(pk[i][2+int(pk[i][0])<<8|int(pk[i][1]) : sl]) // the sender pads with zeros
		shards[i] = pk[i][:sl]
	}
	for j := range m {
		shards[k+j] = make([]byte, sl)
	}
	if err := enc.Encode(shards); err != nil {
		t.Fatal(err)
	}
	// Packets 1 and 3 lost; the others and both parity shards arrive.
	for _, i := range []int{0, 2, 4} {
		n := int(pk[i][0])<<8 | int(pk[i][1])
		rx.keep(int64(100+i), pk[i][2:2+n])
	}
	var g *fecGroup
	for j := range m {
		g = rx.parity(&fecHeader{k: k, m: m, index: j, shardLen: sl, base: 100}, 100, shards[k+j])
	}
	got := rx.recover(&tr.codecs, g, nil)
	if !slices.Equal(got, []int64{101, 103}) {
		t.Fatalf("rebuilt %v", got)
	}
	for _, s := range got {
		st := &rx.store[s%fecStore]
		n := int(pk[s-100][0])<<8 | int(pk[s-100][1])
		if st.n != n || !slices.Equal(st.buf[2:2+st.n], pk[s-100][2:2+n]) {
			t.Fatalf("packet %d rebuilt wrong", s)
		}
	}
	if again := rx.recover(&tr.codecs, g, nil); len(again) != 0 {
		t.Fatalf("rebuilt twice: %v", again)
	}
}
