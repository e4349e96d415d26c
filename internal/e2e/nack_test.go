package e2e

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/testenv"
	"github.com/rtcloud/rtcloud/pkg/client"
)

// firstTimeLoss drops every packet whose sequence number is a multiple of
// every, the first time it arrives: a retransmission of it gets through.
type firstTimeLoss struct {
	every   uint16
	mu      sync.Mutex
	dropped map[uint32]map[uint16]bool
	count   atomic.Int64
}

func (l *firstTimeLoss) drop(ssrc uint32, seq uint16) bool {
	if seq%l.every != 0 {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	seen := l.dropped[ssrc]
	if seen == nil {
		seen = map[uint16]bool{}
		l.dropped[ssrc] = seen
	}
	if seen[seq] {
		return false
	}
	seen[seq] = true
	l.count.Add(1)
	return true
}

// The subscriber loses every 10th packet before its NACK generator sees
// it; the SFU retransmits them all, so nothing is missing in the end.
func TestNACKRecovery(t *testing.T) {
	c := startCluster(t)
	pub := join(t, c.wsURL, "default", "nack", "pub")
	lt := publish(t, pub, client.TrackSpec{Codec: client.CodecVP8, FPS: 30, KbpsPerLayer: []int{400}})[0]
	loss := &firstTimeLoss{every: 10, dropped: map[uint32]map[uint16]bool{}}
	mo := mediaOptions()
	mo.ReceiveLoss = loss.drop
	sub := joinWith(t, c.wsURL, "default", "nack", "sub", mo)
	ctx := testenv.Context(t, 30*time.Second)
	rt := subscribeTo(t, ctx, sub, lt.ID(), "")
	testenv.Eventually(t, 30*time.Second, "every packet recovered", func() error {
		if n := loss.count.Load(); n < 30 {
			return fmt.Errorf("only %d packets dropped so far", n)
		}
		if err := receiving(rt, 300); err != nil {
			return fmt.Errorf("%w; %d NACKed", err, sub.NACKsSent())
		}
		return nil
	})
	t.Logf("%d packets dropped and recovered; the publisher got %d NACKs", loss.count.Load(), lt.Stats()[0].NACKs)
}
