package sip

import (
	"fmt"
	"net"
	"sync"
)

// ports hands out RTP/RTCP socket pairs (an even port and the next) from
// the configured range.
type ports struct {
	mu       sync.Mutex
	bind     string
	min, max int
	next     int
	used     map[int]bool
}

func newPorts(bind string, lo, hi int) *ports {
	if lo%2 == 1 {
		lo++
	}
	return &ports{bind: bind, min: lo, max: hi, next: lo, used: map[int]bool{}}
}

// alloc opens the next free pair.
func (p *ports) alloc() (rtpConn, rtcpConn *net.UDPConn, port int, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := (p.max - p.min + 1) / 2
	for i := 0; i < n; i++ {
		port := p.next
		p.next += 2
		if p.next+1 > p.max {
			p.next = p.min
		}
		if p.used[port] {
			continue
		}
		a, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(p.bind), Port: port})
		if err != nil {
			continue
		}
		b, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(p.bind), Port: port + 1})
		if err != nil {
			_ = a.Close()
			continue
		}
		p.used[port] = true
		return a, b, port, nil
	}
	return nil, nil, 0, fmt.Errorf("%w in %d-%d", ErrNoPorts, p.min, p.max)
}

func (p *ports) release(port int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.used, port)
}
