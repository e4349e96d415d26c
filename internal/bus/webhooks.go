package bus

import (
	"encoding/json"
	"time"
)

// Webhook streams and subjects. Room events (RoomEvents) and service
// events (HookEvents) are kept in StreamHookInput; the leader controller
// turns them into webhook events on WebhookEvents, kept in StreamWebhooks,
// and delivers those. Both streams exist only when webhooks are configured.
const (
	StreamHookInput = "RTCLOUD_HOOK_INPUT"
	StreamWebhooks  = "RTCLOUD_WEBHOOKS"
	// BucketWebhooks holds the two positions of the pipeline ("translated",
	// "delivered") so a new leader resumes where the old one stopped.
	BucketWebhooks = "rtcloud_webhooks"
)

// HookEvents is where a service (egress, ingress, ...) publishes a
// HookEvent of a room that should reach the webhooks as is.
func HookEvents(namespace, room string) string { return prefix + ".hook." + namespace + "." + room }

// AllHookEvents matches HookEvents of every room.
const AllHookEvents = prefix + ".hook.*.*"

// WebhookEvents is the subject of the webhook events of one room.
func WebhookEvents(namespace, room string) string {
	return prefix + ".webhook." + namespace + "." + room
}

// AllWebhookEvents matches WebhookEvents of every room.
const AllWebhookEvents = prefix + ".webhook.*.*"

// HookEvent is a service's event for the webhooks: Type is the webhook
// event type (for example "egress_started"), Object its payload.
type HookEvent struct {
	Type      string          `json:"type"`
	Namespace string          `json:"namespace"`
	Room      string          `json:"room"`
	Time      time.Time       `json:"time,omitzero"`
	Object    json.RawMessage `json:"object,omitempty"`
}
