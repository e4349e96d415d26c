package serverapi

import (
	"context"
	"net/http"
	"net/url"

	"github.com/rtcloud/rtcloud/internal/bus"
)

// Egress (docs/egress.md): recording and streaming rooms and tracks.
type (
	// EgressOutput is one output: exactly one of File (a name under the
	// storage root), RTMP (an rtmp:// or rtmps:// URL) or HLS (a
	// directory under the storage root).
	EgressOutput = bus.EgressOutput
	// EgressInfo is an egress's record: its request (EgressID, Namespace,
	// Room, Type, TrackID, Layout, Outputs), Status (starting, active,
	// ending, complete, failed), Reason, StartedAt, EndedAt, Duration,
	// Bytes and Results.
	EgressInfo = bus.EgressInfo
	// IngressInfo is an ingress key: StreamKey, URL (the RTMP URL to
	// publish to), Namespace, Room, Identity, Name, CreatedAt.
	IngressInfo = bus.IngressInfo
)

// Egress types and layouts.
const (
	EgressRoom    = "room"  // a composite of the room
	EgressTrack   = "track" // one track as it is
	LayoutGrid    = "grid"
	LayoutSpeaker = "speaker"
)

// EgressRequest starts an egress.
type EgressRequest struct {
	Namespace string         `json:"namespace,omitempty"` // default DefaultNamespace
	Room      string         `json:"room"`
	Type      string         `json:"type"`               // EgressRoom or EgressTrack
	TrackID   string         `json:"track_id,omitempty"` // for EgressTrack
	Layout    string         `json:"layout,omitempty"`   // for EgressRoom; default LayoutGrid
	Outputs   []EgressOutput `json:"outputs"`
}

// StartEgress starts recording or streaming a room or a track; an
// APIError with code unavailable when no worker has capacity.
func (c *Client) StartEgress(ctx context.Context, req EgressRequest) (EgressInfo, error) {
	req.Namespace = orDefault(req.Namespace)
	var out EgressInfo
	err := c.do(ctx, http.MethodPost, "/v1/egress", req.Namespace, req, &out)
	return out, err
}

// Egresses lists the egresses of a namespace, of one room when room is
// not empty.
func (c *Client) Egresses(ctx context.Context, namespace, room string) ([]EgressInfo, error) {
	namespace = orDefault(namespace)
	q := url.Values{"namespace": {namespace}}
	if room != "" {
		q.Set("room", room)
	}
	var out struct {
		Egress []EgressInfo `json:"egress"`
	}
	err := c.do(ctx, http.MethodGet, "/v1/egress?"+q.Encode(), namespace, nil, &out)
	return out.Egress, err
}

// Egress returns one egress of namespace.
func (c *Client) Egress(ctx context.Context, namespace, id string) (EgressInfo, error) {
	var out EgressInfo
	err := c.do(ctx, http.MethodGet, "/v1/egress/"+url.PathEscape(id), orDefault(namespace), nil, &out)
	return out, err
}

// StopEgress stops an egress, finalizes its files and returns its final
// record.
func (c *Client) StopEgress(ctx context.Context, namespace, id string) (EgressInfo, error) {
	var out EgressInfo
	err := c.do(ctx, http.MethodDelete, "/v1/egress/"+url.PathEscape(id), orDefault(namespace), nil, &out)
	return out, err
}

// IngressRequest creates an ingress key: an RTMP stream key that
// publishes into Room as Identity (default "rtmp-{room}").
type IngressRequest struct {
	Namespace string `json:"namespace,omitempty"` // default DefaultNamespace
	Room      string `json:"room"`
	Identity  string `json:"identity,omitempty"`
	Name      string `json:"name,omitempty"`
}

// CreateIngress creates an ingress key; give the encoder its URL and
// StreamKey.
func (c *Client) CreateIngress(ctx context.Context, req IngressRequest) (IngressInfo, error) {
	req.Namespace = orDefault(req.Namespace)
	var out IngressInfo
	err := c.do(ctx, http.MethodPost, "/v1/ingress", req.Namespace, req, &out)
	return out, err
}

// Ingresses lists the ingress keys of a namespace, oldest first.
func (c *Client) Ingresses(ctx context.Context, namespace string) ([]IngressInfo, error) {
	namespace = orDefault(namespace)
	var out struct {
		Ingress []IngressInfo `json:"ingress"`
	}
	err := c.do(ctx, http.MethodGet, "/v1/ingress?namespace="+url.QueryEscape(namespace), namespace, nil, &out)
	return out.Ingress, err
}

// DeleteIngress revokes an ingress key of namespace.
func (c *Client) DeleteIngress(ctx context.Context, namespace, streamKey string) error {
	return c.do(ctx, http.MethodDelete, "/v1/ingress/"+url.PathEscape(streamKey), orDefault(namespace), nil, nil)
}
