package netsim

import (
	"encoding/binary"
	"net"
	"slices"
	"testing"
	"time"
)

// sendStamped sends n numbered datagrams from the server and returns
// when each was sent.
func sendStamped(t *testing.T, srv *net.UDPConn, to *net.UDPAddr, n int) []time.Time {
	t.Helper()
	sent := make([]time.Time, n)
	msg := make([]byte, 100)
	for i := range n {
		binary.BigEndian.PutUint32(msg, uint32(i))
		sent[i] = time.Now()
		if _, err := srv.WriteToUDP(msg, to); err != nil {
			t.Fatal(err)
		}
	}
	return sent
}

// receiveStamped reads up to n datagrams and returns their numbers in
// arrival order and the time each number arrived.
func receiveStamped(t *testing.T, cli *net.UDPConn, n int) ([]int, map[int]time.Time) {
	t.Helper()
	var order []int
	at := map[int]time.Time{}
	buf := make([]byte, 2048)
	for len(order) < n {
		_ = cli.SetReadDeadline(time.Now().Add(2 * time.Second))
		k, err := cli.Read(buf)
		if err != nil {
			break
		}
		i := int(binary.BigEndian.Uint32(buf[:k]))
		order = append(order, i)
		at[i] = time.Now()
	}
	return order, at
}

func TestDelay(t *testing.T) {
	const delay = 40 * time.Millisecond
	p, srv, cli, from := pair(t, Options{Delay: delay})
	sent := sendStamped(t, srv, from, 50)
	order, at := receiveStamped(t, cli, 50)
	if len(order) != 50 || !slices.IsSorted(order) {
		t.Fatalf("got %d datagrams in order %v, want 50 in send order", len(order), order)
	}
	for i, s := range sent {
		// A datagram can never arrive early; how late it is depends on
		// the machine, so only an upper bound far above the delay.
		if d := at[i].Sub(s); d < delay || d > delay+time.Second {
			t.Fatalf("datagram %d held %v, want at least %v", i, d, delay)
		}
	}
	// The counter follows the write the client already read.
	for deadline := time.Now().Add(2 * time.Second); p.Stats().Down != 50; {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v", p.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	// Changed at run time: back to no delay.
	p.SetDelay(0, 0)
	sent = sendStamped(t, srv, from, 10)
	order, at = receiveStamped(t, cli, 10)
	if len(order) != 10 || at[9].Sub(sent[9]) >= delay+time.Second {
		t.Fatalf("after SetDelay(0): %d datagrams", len(order))
	}
}

func TestDelayJitter(t *testing.T) {
	const delay, jitter = 30 * time.Millisecond, 20 * time.Millisecond
	_, srv, cli, from := pair(t, Options{Delay: delay, Jitter: jitter, Seed: 7})
	sent := sendStamped(t, srv, from, 100)
	order, at := receiveStamped(t, cli, 100)
	if len(order) != 100 {
		t.Fatalf("got %d of 100 datagrams", len(order))
	}
	if slices.IsSorted(order) {
		t.Fatal("20 ms of jitter on a burst reordered nothing")
	}
	var held []time.Duration
	for i, s := range sent {
		d := at[i].Sub(s)
		if d < delay-jitter {
			t.Fatalf("datagram %d held %v, less than delay-jitter %v", i, d, delay-jitter)
		}
		held = append(held, d)
	}
	slices.Sort(held)
	if held[len(held)-1]-held[0] < jitter/2 {
		t.Fatalf("hold times %v..%v: no spread from the jitter", held[0], held[len(held)-1])
	}
}
