package bus

import "time"

// Egress subjects, bucket and messages: the contract between the egress
// API (on the controller, or in `rtcloud dev`) and `rtcloud egress`
// workers. Webhook and dashboard services subscribe to EgressEvents.

// EgressStart is served by every egress worker that has room for more
// work, in queue group EgressQueue: EgressRequest -> EgressInfo. A worker
// leaves the group while it is full, so "no responders" means no worker
// can take the job.
const EgressStart = prefix + ".egress.start"

// EgressQueue is the queue group egress workers serve EgressStart in.
const EgressQueue = "egress"

// EgressStop asks the worker running an egress to stop it and finalize
// its outputs: EgressStopRequest -> EgressInfo.
func EgressStop(workerID string) string { return prefix + ".egress.worker." + workerID + ".stop" }

// EgressHeartbeats is where every worker publishes its EgressWorker each
// second; an egress whose worker falls silent is marked failed.
const EgressHeartbeats = prefix + ".egress.heartbeat"

// EgressEvents carries EgressEvent: started, updated, ended.
const EgressEvents = prefix + ".egress.events"

// BucketEgress holds EgressInfo by egress id; workers write their own
// egresses, the API marks those of lost workers failed.
const BucketEgress = "rtcloud_egress"

// Egress types.
const (
	EgressTypeRoom  = "room"
	EgressTypeTrack = "track"
)

// Egress layouts of a room composite.
const (
	LayoutGrid    = "grid"
	LayoutSpeaker = "speaker"
)

// Egress statuses, in order; complete and failed are final.
const (
	EgressStarting = "starting"
	EgressActive   = "active"
	EgressEnding   = "ending"
	EgressComplete = "complete"
	EgressFailed   = "failed"
)

// Egress event types published on EgressEvents.
const (
	EventEgressStarted = "egress_started"
	EventEgressUpdated = "egress_updated"
	EventEgressEnded   = "egress_ended"
)

// EgressOutput is one output of an egress: exactly one of File (a name
// relative to the storage root), RTMP (an rtmp:// or rtmps:// URL) or HLS
// (a directory name relative to the storage root).
type EgressOutput struct {
	File string `json:"file,omitempty"`
	RTMP string `json:"rtmp,omitempty"`
	HLS  string `json:"hls,omitempty"`
}

// EgressRequest starts an egress.
type EgressRequest struct {
	// EgressID is chosen by the API.
	EgressID  string         `json:"egress_id"`
	Namespace string         `json:"namespace"`
	Room      string         `json:"room"`
	Type      string         `json:"type"`               // EgressTypeRoom or EgressTypeTrack
	TrackID   string         `json:"track_id,omitempty"` // for EgressTypeTrack
	Layout    string         `json:"layout,omitempty"`   // for EgressTypeRoom; default grid
	Outputs   []EgressOutput `json:"outputs"`
}

// EgressStopRequest stops an egress.
type EgressStopRequest struct {
	EgressID string `json:"egress_id"`
}

// EgressResult is where one output went and how much was written.
type EgressResult struct {
	EgressOutput
	// Location is the file path, the s3:// URL of the uploaded object, or
	// the RTMP URL.
	Location string `json:"location,omitempty"`
	// Playlist is the HLS playlist location; Segments the segment count.
	Playlist string `json:"playlist,omitempty"`
	Segments int    `json:"segments,omitempty"`
	Bytes    int64  `json:"bytes"`
	Error    string `json:"error,omitempty"`
}

// EgressInfo is the state of one egress.
type EgressInfo struct {
	Reply
	EgressRequest
	WorkerID  string    `json:"worker_id,omitempty"`
	Status    string    `json:"status"`
	Reason    string    `json:"reason,omitempty"` // why it failed or ended
	StartedAt time.Time `json:"started_at"`
	EndedAt   time.Time `json:"ended_at,omitzero"`
	// Duration of media written, in seconds; Bytes written to every output.
	Duration float64        `json:"duration"`
	Bytes    int64          `json:"bytes"`
	Results  []EgressResult `json:"results,omitempty"`
	// UpdatedAt is when the worker last wrote this record.
	UpdatedAt time.Time `json:"updated_at"`
}

// Final reports whether the egress has ended.
func (e *EgressInfo) Final() bool { return e.Status == EgressComplete || e.Status == EgressFailed }

// EgressEvent is an event of one egress, for webhooks.
type EgressEvent struct {
	Type   string     `json:"type"` // EventEgressStarted, ...
	Egress EgressInfo `json:"egress"`
	At     time.Time  `json:"at"`
}

// EgressWorker is a worker's heartbeat.
type EgressWorker struct {
	ID string `json:"id"`
	// Capacity, Load and CPU are in CPU cores: Load is the estimated cost
	// of the jobs taken, CPU what the worker and its ffmpeg processes used
	// in the last second. A job is taken when its cost fits in Capacity
	// minus the larger of the two.
	Capacity float64   `json:"capacity"`
	Load     float64   `json:"load"`
	CPU      float64   `json:"cpu"`
	Active   []string  `json:"active"` // egress ids it runs
	SentAt   time.Time `json:"sent_at"`
}
