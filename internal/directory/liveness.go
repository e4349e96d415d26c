package directory

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rtcloud/rtcloud/internal/bus"
)

// Liveness defaults (see bus/liveness.go for the scheme).
const (
	// DefaultSuspectAfter: a node silent this long (two missed liveness
	// beats) is pinged.
	DefaultSuspectAfter = 500 * time.Millisecond
	// pingTimeout bounds one ping; a ping that times out proves nothing
	// (DeadAfter still applies).
	pingTimeout = 400 * time.Millisecond
	// noRespondersToDie: a node is dead after this many pings in a row
	// that NATS answered with "no responders" (one alone could be a
	// reconnect to another NATS server in flight).
	noRespondersToDie = 2
	// livenessTick is how often the directory looks for silent nodes.
	livenessTick = 100 * time.Millisecond
	// repingAfter spaces the pings of one silent node.
	repingAfter = 200 * time.Millisecond
)

// OnNodeDown registers fn to be called, once per death, when a node is
// declared dead: its liveness beats stopped and NATS says nobody serves
// its commands any more, or it stayed silent for DeadAfter. fn runs on the
// directory's own goroutine and must not block long.
func (d *Directory) OnNodeDown(fn func(nodeID, reason string)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.onDown = append(d.onDown, fn)
}

// startLiveness follows the nodes' liveness beats and pings silent nodes.
func (d *Directory) startLiveness() error {
	sub, err := d.opts.Bus.Subscribe(bus.AllNodesAlive, d.onAlive)
	if err != nil {
		return err
	}
	d.aliveSub = sub
	d.stopLive = make(chan struct{})
	d.liveWG.Add(1)
	go func() {
		defer d.liveWG.Done()
		d.watchLiveness()
	}()
	return nil
}

func (d *Directory) stopLiveness() {
	if d.aliveSub != nil {
		_ = d.aliveSub.Unsubscribe()
	}
	if d.stopLive != nil {
		close(d.stopLive)
	}
	d.liveWG.Wait()
}

func (d *Directory) onAlive(m *nats.Msg) {
	id := strings.TrimPrefix(m.Subject, strings.TrimSuffix(bus.AllNodesAlive, "*"))
	d.mu.Lock()
	if ln, ok := d.live[id]; ok {
		ln.seen, ln.noResponders = d.opts.Now(), 0
		if ln.dead {
			ln.dead = false
			d.log.Info("node alive again", "node", id)
		}
		d.live[id] = ln
	}
	d.mu.Unlock()
}

func (d *Directory) watchLiveness() {
	t := time.NewTicker(livenessTick)
	defer t.Stop()
	for {
		select {
		case <-d.stopLive:
			return
		case <-t.C:
		}
		now := d.opts.Now()
		var suspects []string
		var died []string
		d.mu.Lock()
		for id, ln := range d.live {
			age := now.Sub(ln.seen)
			switch {
			case ln.dead:
			case age >= d.opts.DeadAfter:
				ln.dead = true
				died = append(died, id)
			case age >= d.opts.SuspectAfter && !ln.pinging && now.Sub(ln.pingedAt) >= repingAfter:
				ln.pinging, ln.pingedAt = true, now
				suspects = append(suspects, id)
			}
			d.live[id] = ln
		}
		d.mu.Unlock()
		for _, id := range died {
			d.declareDead(id, "silent for "+d.opts.DeadAfter.String())
		}
		for _, id := range suspects {
			d.liveWG.Add(1)
			go func() {
				defer d.liveWG.Done()
				d.ping(id)
			}()
		}
	}
}

// ping asks a silent node whether it is alive.
func (d *Directory) ping(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), pingTimeout)
	defer cancel()
	err := d.opts.Bus.Request(ctx, bus.NodeCommand(id, bus.CmdPing), bus.Ping{}, nil)
	dead := false
	d.mu.Lock()
	ln, ok := d.live[id]
	if ok {
		ln.pinging = false
		switch {
		case err == nil:
			// Alive, but silent: DeadAfter still applies if its beats
			// do not resume.
			ln.noResponders = 0
		case errors.Is(err, bus.ErrNoResponders):
			ln.noResponders++
			if ln.noResponders >= noRespondersToDie && !ln.dead {
				ln.dead, dead = true, true
			}
		}
		d.live[id] = ln
	}
	d.mu.Unlock()
	if dead {
		d.declareDead(id, "stopped beating and nobody serves its commands")
	}
}

func (d *Directory) declareDead(id, reason string) {
	d.log.Warn("node dead", "node", id, "reason", reason)
	d.mu.Lock()
	fns := append([]func(string, string){}, d.onDown...)
	d.mu.Unlock()
	for _, fn := range fns {
		fn(id, reason)
	}
}
