package sfu

import (
	"context"
	"maps"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rtcloud/rtcloud/internal/bus"
)

const (
	maintenanceInterval = 250 * time.Millisecond
	speakerInterval     = 500 * time.Millisecond
	speakerThreshold    = 0.01 // about -40 dBov
)

// tick runs the node's periodic work until ctx ends: heartbeats, layer
// bitrates and automatic layer choice, active speakers.
func (n *Node) tick(ctx context.Context) {
	hb := time.NewTicker(n.cfg.HeartbeatInterval)
	defer hb.Stop()
	maint := time.NewTicker(maintenanceInterval)
	defer maint.Stop()
	n.heartbeat()
	last, lastSpeakers, lastReports := time.Now(), time.Now(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-hb.C:
			n.heartbeat()
			n.publishLinks(now)
		case now := <-maint.C:
			n.maintain(now.Sub(last))
			if n.relay != nil {
				n.relay.maintain(now)
				n.relay.unwatchIdleRooms()
			}
			last = now
			if now.Sub(lastSpeakers) >= speakerInterval {
				n.activeSpeakers()
				lastSpeakers = now
			}
			// (within half a tick: the ticker's jitter must not stretch
			// the interval to the next tick)
			if now.Sub(lastReports) >= senderReportInterval-maintenanceInterval/2 {
				n.sendReports(now)
				lastReports = now
			}
		}
	}
}

// sendReports sends every session its sender reports. The naive
// forwarder leaves them to Pion's interceptor.
func (n *Node) sendReports(now time.Time) {
	if n.naive != nil {
		return
	}
	sessions, _ := n.snapshot()
	for _, s := range sessions {
		s.sendReports(now)
	}
}

func (n *Node) snapshot() ([]*session, []*upTrack) {
	n.mu.Lock()
	defer n.mu.Unlock()
	ss := slices.Collect(maps.Values(n.sessions))
	ts := slices.Collect(maps.Values(n.tracks))
	return ss, ts
}

// maintain updates layer bitrates and re-targets every simulcast
// subscription.
func (n *Node) maintain(dt time.Duration) {
	sessions, tracks := n.snapshot()
	n.updateGauges(sessions, tracks)
	n.rtx.refill(dt)
	for _, t := range tracks {
		t.updateRates(dt)
		if !t.simulcst {
			continue
		}
		// Every tick: automatic subscriptions follow bandwidth, all move
		// off a layer that paused and back once it resumes, one that
		// waited too long for a keyframe takes the lowest layer and then
		// climbs back to the one it wants.
		for _, d := range t.downTracks() {
			d.retarget()
		}
	}
}

// updateGauges sets the session, room and track gauges.
func (n *Node) updateGauges(sessions []*session, tracks []*upTrack) {
	rooms := map[string]bool{}
	for _, s := range sessions {
		rooms[bus.RoomKey(s.p.Namespace, s.p.Room)] = true
	}
	n.metrics.Sessions.Set(float64(len(sessions)))
	n.metrics.Rooms.Set(float64(len(rooms)))
	n.metrics.Tracks.Set(float64(len(tracks)))
}

// activeSpeakers publishes each room's speakers when the set changed.
func (n *Node) activeSpeakers() {
	_, tracks := n.snapshot()
	rooms := map[string][]bus.Speaker{}
	roomOf := map[string]bus.Participant{}
	for _, t := range tracks {
		if t.kind != bus.KindAudio || t.ingress {
			continue
		}
		p := t.owner
		key := bus.RoomKey(p.Namespace, p.Room)
		roomOf[key] = p
		if lvl := t.takeLevel(); lvl >= speakerThreshold {
			rooms[key] = append(rooms[key], bus.Speaker{Identity: p.Identity, SessionID: p.SessionID, Level: lvl})
		}
	}
	for key, p := range roomOf {
		sp := rooms[key]
		sort.Slice(sp, func(i, j int) bool { return sp[i].Level > sp[j].Level })
		ids := make([]string, len(sp))
		for i, s := range sp {
			ids[i] = s.SessionID
		}
		set := strings.Join(ids, ",")
		n.mu.Lock()
		changed := n.speakers[key] != set
		n.speakers[key] = set
		n.mu.Unlock()
		if changed {
			n.emit(bus.RoomEvents(p.Namespace, p.Room), bus.Event{
				Type: bus.EventActiveSpeakers, Namespace: p.Namespace, Room: p.Room, Speakers: append([]bus.Speaker{}, sp...),
			})
		}
	}
}

// Info returns the node's current NodeInfo.
func (n *Node) Info() bus.NodeInfo {
	sessions, tracks := n.snapshot()
	rooms := map[string]bool{}
	for _, s := range sessions {
		rooms[bus.RoomKey(s.p.Namespace, s.p.Room)] = true
	}
	n.mu.Lock()
	cpu, in, out := n.load.sample(n.bytesIn.Load(), n.bytesOut.Load())
	n.mu.Unlock()
	return bus.NodeInfo{
		ID: n.id, Region: n.cfg.Region, Zone: n.cfg.Zone, ISP: n.cfg.ISP,
		PublicIPs: n.mux.AdvertiseIPs(), MediaPort: n.MediaPort(), Capacity: n.cfg.Capacity,
		RelayAddr: n.RelayAddr(),
		Draining:  n.draining.Load(),
		StartedAt: n.startedAt, SentAt: time.Now(),
		Load: bus.NodeLoad{
			CPU: cpu, MemoryBytes: rssBytes(), BitsInPerS: in, BitsOutPerS: out,
			Rooms: len(rooms), Participants: len(sessions), Tracks: len(tracks),
		},
	}
}

func (n *Node) heartbeat() {
	if n.events == nil {
		return
	}
	if err := n.events.Publish(bus.NodeHeartbeats, n.Info()); err != nil {
		n.log.Warn("heartbeat", "err", err)
	}
}

// loadSampler turns cumulative counters into rates between samples.
type loadSampler struct {
	at              time.Time
	cpu             time.Duration
	bytesIn, bytesO uint64
}

func (l *loadSampler) sample(in, out uint64) (cpu float64, bitsIn, bitsOut uint64) {
	now, c := time.Now(), processCPU()
	if !l.at.IsZero() {
		dt := now.Sub(l.at).Seconds()
		if dt > 0 {
			cpu = (c - l.cpu).Seconds() / dt / float64(runtime.NumCPU())
			bitsIn = uint64(float64(in-l.bytesIn) * 8 / dt)
			bitsOut = uint64(float64(out-l.bytesO) * 8 / dt)
		}
	}
	l.at, l.cpu, l.bytesIn, l.bytesO = now, c, in, out
	return cpu, bitsIn, bitsOut
}

// processCPU reads the process's user+system CPU time from /proc.
func processCPU() time.Duration {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
}

// rssBytes is the process's resident memory.
func rssBytes() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.Sys
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}
