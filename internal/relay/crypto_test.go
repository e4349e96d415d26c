package relay

import "testing"

func TestReplayWindow(t *testing.T) {
	var w replayWindow
	take := func(c uint64) bool {
		if !w.check(c) {
			return false
		}
		w.accept(c)
		return true
	}
	if take(0) {
		t.Fatal("counter 0 accepted")
	}
	for _, c := range []uint64{1, 2, 5, 4, 3, 100, 99} {
		if !take(c) {
			t.Fatalf("fresh counter %d refused", c)
		}
	}
	for _, c := range []uint64{1, 5, 100, 99} {
		if take(c) {
			t.Fatalf("replayed counter %d accepted", c)
		}
	}
	if !take(50) {
		t.Fatal("late but fresh counter refused")
	}
	if !take(10_000) {
		t.Fatal("jump refused")
	}
	if take(100) || take(10_000-windowBits) {
		t.Fatal("counter behind the window accepted")
	}
	if !take(10_000 - windowBits + 100) {
		t.Fatal("fresh counter inside the window refused")
	}
	// Words reused after a jump are cleared.
	if !take(10_000+3*64) || !take(10_000+64+1) {
		t.Fatal("fresh counter after a short jump refused")
	}
}

func TestLinkKeysDiffer(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	ab, err := linkAEAD(secret, "a", "b", 1)
	if err != nil {
		t.Fatal(err)
	}
	ba, _ := linkAEAD(secret, "b", "a", 1)
	ab2, _ := linkAEAD(secret, "a", "b", 2)
	var n [nonceSize]byte
	putNonce(&n, 1)
	ct := ab.Seal(nil, n[:], []byte("hello"), []byte("hdr"))
	if _, err := ba.Open(nil, n[:], ct, []byte("hdr")); err == nil {
		t.Fatal("b->a key opened an a->b packet")
	}
	if _, err := ab2.Open(nil, n[:], ct, []byte("hdr")); err == nil {
		t.Fatal("the key of another epoch opened the packet")
	}
	if pt, err := ab.Open(nil, n[:], ct, []byte("hdr")); err != nil || string(pt) != "hello" {
		t.Fatalf("open: %q %v", pt, err)
	}
}
