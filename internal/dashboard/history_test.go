package dashboard

import (
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/bus"
)

// TestHistoryWindow: one point per step, at most 15 minutes of them, and
// a node silent for the whole window is forgotten.
func TestHistoryWindow(t *testing.T) {
	h := newHistory()
	start := time.Unix(1_800_000_000, 0)
	for i := range 3 * historyPoints { // 45 minutes of heartbeats every 2.5 s
		now := start.Add(time.Duration(i) * historyStep / 2)
		h.add(bus.NodeInfo{ID: "a", Load: bus.NodeLoad{Participants: i}}, now)
		if i == 0 {
			h.add(bus.NodeInfo{ID: "gone"}, now)
		}
	}
	snap := h.snapshot()
	if len(snap) != 1 || snap[0].ID != "a" {
		t.Fatalf("nodes %v, want only a (gone was silent for longer than the window)", snap)
	}
	pts := snap[0].Points
	if len(pts) != historyPoints {
		t.Fatalf("%d points, want %d", len(pts), historyPoints)
	}
	for i := 1; i < len(pts); i++ {
		if pts[i][0]-pts[i-1][0] != historyStep.Seconds() {
			t.Fatalf("points %d and %d are %v s apart, want %v", i-1, i, pts[i][0]-pts[i-1][0], historyStep.Seconds())
		}
	}
	if last := pts[len(pts)-1][1]; last != float64(3*historyPoints-1) {
		t.Fatalf("last point has %v participants, want the last heartbeat's %d", last, 3*historyPoints-1)
	}
}
