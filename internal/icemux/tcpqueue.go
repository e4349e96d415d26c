package icemux

import (
	"io"
	"net"
	"sync"
)

// queuedConn is one accepted ICE-TCP connection as Pion sees it. Writes
// never block: they are copied into a queue of at most limit bytes that
// the connection's own goroutine writes to the socket (several packets per
// writev). When a peer reads too slowly and the queue is full, packets are
// dropped and counted, as a full UDP socket buffer would drop them; when
// the queue has drained again after drops, the mux's OnTCPRecovered hook
// is told, so the node can ask for a keyframe for that peer.
type queuedConn struct {
	net.Conn
	m     *Mux
	limit int

	mu      sync.Mutex
	wake    *sync.Cond
	queue   []*[]byte
	bufs    net.Buffers // scratch of writeLoop
	size    int
	closed  bool
	dropped uint64 // in the current episode
	done    chan struct{}
}

var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 1600); return &b }}

func newQueuedConn(c net.Conn, m *Mux, limit int) *queuedConn {
	q := &queuedConn{Conn: c, m: m, limit: limit, done: make(chan struct{})}
	q.wake = sync.NewCond(&q.mu)
	go q.writeLoop()
	return q
}

// Write queues one framed packet or drops it when the queue is full.
func (q *queuedConn) Write(p []byte) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return 0, io.ErrClosedPipe
	}
	if q.size+len(p) > q.limit && q.size > 0 {
		q.dropped++
		q.m.tcpDropped.Add(1)
		return len(p), nil
	}
	bp := framePool.Get().(*[]byte)
	*bp = append((*bp)[:0], p...)
	q.queue = append(q.queue, bp)
	q.size += len(p)
	q.wake.Signal()
	return len(p), nil
}

// writeLoop writes what is queued until the connection closes.
func (q *queuedConn) writeLoop() {
	defer close(q.done)
	var batch []*[]byte
	for {
		q.mu.Lock()
		for len(q.queue) == 0 && !q.closed {
			q.wake.Wait()
		}
		if q.closed {
			q.mu.Unlock()
			return
		}
		batch, q.queue = q.queue, batch[:0]
		q.mu.Unlock()

		q.bufs = q.bufs[:0]
		n := 0
		for _, b := range batch {
			q.bufs = append(q.bufs, *b)
			n += len(*b)
		}
		bufs := q.bufs // WriteTo consumes its receiver
		_, err := bufs.WriteTo(q.Conn)
		for _, b := range batch {
			framePool.Put(b)
		}
		clear(batch)

		q.mu.Lock()
		q.size -= n
		recovered := uint64(0)
		if q.size == 0 && q.dropped > 0 {
			recovered, q.dropped = q.dropped, 0
		}
		q.mu.Unlock()
		if err != nil {
			_ = q.Close()
			return
		}
		if recovered > 0 && q.m.onRecovered != nil {
			q.m.onRecovered(q.Conn.RemoteAddr(), recovered)
		}
	}
}

// Close stops the write goroutine and closes the socket.
func (q *queuedConn) Close() error {
	q.mu.Lock()
	already := q.closed
	q.closed = true
	for _, b := range q.queue {
		framePool.Put(b)
	}
	q.queue, q.size = nil, 0
	q.wake.Broadcast()
	q.mu.Unlock()
	if already {
		return nil
	}
	q.m.forget(q)
	return q.Conn.Close()
}

// tcpConns tracks the queued connections so Close can stop them all.
type tcpConns struct {
	mu    sync.Mutex
	conns map[*queuedConn]struct{}
}

func (m *Mux) track(q *queuedConn) bool {
	m.tcp.mu.Lock()
	defer m.tcp.mu.Unlock()
	if m.tcp.conns == nil {
		return false
	}
	m.tcp.conns[q] = struct{}{}
	return true
}

func (m *Mux) forget(q *queuedConn) {
	m.tcp.mu.Lock()
	if m.tcp.conns != nil {
		delete(m.tcp.conns, q)
	}
	m.tcp.mu.Unlock()
}

// closeTCP closes every queued connection and waits for their goroutines.
func (m *Mux) closeTCP() {
	m.tcp.mu.Lock()
	all := make([]*queuedConn, 0, len(m.tcp.conns))
	for q := range m.tcp.conns {
		all = append(all, q)
	}
	m.tcp.conns = nil
	m.tcp.mu.Unlock()
	for _, q := range all {
		_ = q.Close()
		<-q.done
	}
}

// TCPDropped is the number of packets dropped because an ICE-TCP peer
// read too slowly.
func (m *Mux) TCPDropped() uint64 { return m.tcpDropped.Load() }
