package bus

import "time"

// Subjects, buckets and messages of the gateways: RTMP ingest (`rtcloud
// ingress`) and SIP (`rtcloud sip`).

// BucketIngress holds the ingress keys created through the API: stream
// key -> IngressInfo.
const BucketIngress = "rtcloud_ingress"

// IngressInfo is one ingress key: an encoder publishing with StreamKey
// joins Room of Namespace as Identity.
type IngressInfo struct {
	StreamKey string    `json:"stream_key"`
	URL       string    `json:"url"`
	Namespace string    `json:"namespace"`
	Room      string    `json:"room"`
	Identity  string    `json:"identity"`
	Name      string    `json:"name,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// BucketIngressActive holds one entry per stream being ingested, keyed
// by a hash of its stream key (or token identity), so that a second
// encoder on the same key is refused by every gateway. Entries are
// refreshed every few seconds and expire (IngressActiveTTL) when a
// gateway dies.
const BucketIngressActive = "rtcloud_ingress_active"

// IngressActiveTTL is how long an active-stream entry outlives its last
// refresh.
const IngressActiveTTL = 10 * time.Second

// BucketSIPRules holds the SIP dial rules created through the API:
// rule id -> SIPRule.
const BucketSIPRules = "rtcloud_sip_rules"

// SIPRule maps a called number or URI (and a PIN) to a room.
type SIPRule struct {
	ID        string    `json:"id"`
	To        string    `json:"to"`
	Namespace string    `json:"namespace"`
	Room      string    `json:"room"`
	PIN       string    `json:"pin,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// SIPDial is served by every SIP gateway (queue group SIPQueue):
// SIPCallRequest -> SIPCall. The gateway dials To and, once answered,
// joins the callee to the room.
const SIPDial = prefix + ".sip.dial"

// SIPQueue is the queue group SIP gateways serve requests in.
const SIPQueue = "sip"

// SIPCallRequest asks for an outbound call.
type SIPCallRequest struct {
	Namespace string `json:"namespace"`
	Room      string `json:"room"`
	To        string `json:"to"`                 // sip:user@host[:port]
	Identity  string `json:"identity,omitempty"` // default: derived from To
}

// SIPCall is a call the gateway placed or took.
type SIPCall struct {
	CallID    string `json:"call_id"`
	Namespace string `json:"namespace"`
	Room      string `json:"room"`
	Identity  string `json:"identity"`
	To        string `json:"to,omitempty"`
	From      string `json:"from,omitempty"`
	Direction string `json:"direction"` // "inbound" or "outbound"
	Codec     string `json:"codec,omitempty"`
}
