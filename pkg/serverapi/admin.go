package serverapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rtcloud/rtcloud/internal/bus"
)

// Client calls the admin API of the controllers (docs/api.md). It mints a
// short-lived admin token per call with its API key.
type Client struct {
	base        string
	key, secret string
	// OperatorNamespace is the namespace of node operations
	// (controller.operator_namespace; default DefaultNamespace).
	OperatorNamespace string
	// HTTP is the HTTP client (default: one with a 15 s timeout).
	HTTP *http.Client
}

// New returns a client of the controller API at baseURL
// ("http://controller:7900").
func New(baseURL, key, secret string) *Client {
	return &Client{base: strings.TrimSuffix(baseURL, "/"), key: key, secret: secret,
		OperatorNamespace: DefaultNamespace, HTTP: &http.Client{Timeout: 15 * time.Second}}
}

// NodeInfo is a node's heartbeat: ID, Region, Zone, ISP, PublicIPs,
// MediaPort, Capacity, Draining, StartedAt, SentAt and Load.
type NodeInfo = bus.NodeInfo

// ParticipantInfo is a participant (Namespace, Room, Identity, SessionID,
// Name, Metadata, Kind) with its Tracks and JoinedAt.
type ParticipantInfo = bus.ParticipantInfo

// Node is a live node with its load.
type Node struct {
	NodeInfo
	// LoadScore is the load from 0 (idle) to 1 (full) placement compares.
	LoadScore float64 `json:"load_score"`
	Full      bool    `json:"full"`
}

// Room is a room, the node it was placed on and its participants.
type Room struct {
	Namespace    string        `json:"namespace"`
	Room         string        `json:"room"`
	NodeID       string        `json:"node_id"`
	CreatedAt    time.Time     `json:"created_at"`
	Participants []Participant `json:"participants"`
	// Unreachable lists nodes that did not answer for the room.
	Unreachable []string `json:"unreachable_nodes,omitempty"`
}

// Participant is a participant, its tracks and its node.
type Participant struct {
	ParticipantInfo
	NodeID string `json:"node_id"`
}

// Nodes lists the live nodes.
func (c *Client) Nodes(ctx context.Context) ([]Node, error) {
	var out struct {
		Nodes []Node `json:"nodes"`
	}
	err := c.do(ctx, http.MethodGet, "/v1/admin/nodes", c.OperatorNamespace, nil, &out)
	return out.Nodes, err
}

// Drain stops placing new rooms and participants on a node (drain true)
// or undoes it; its existing rooms stay.
func (c *Client) Drain(ctx context.Context, nodeID string, drain bool) error {
	method := http.MethodPost
	if !drain {
		method = http.MethodDelete
	}
	return c.do(ctx, method, "/v1/admin/nodes/"+url.PathEscape(nodeID)+"/drain", c.OperatorNamespace, nil, nil)
}

// Rooms lists the rooms of a namespace ("" for DefaultNamespace).
func (c *Client) Rooms(ctx context.Context, namespace string) ([]Room, error) {
	namespace = orDefault(namespace)
	var out struct {
		Rooms []Room `json:"rooms"`
	}
	err := c.do(ctx, http.MethodGet, "/v1/admin/rooms?namespace="+url.QueryEscape(namespace), namespace, nil, &out)
	return out.Rooms, err
}

// Room returns one room; an APIError with code not_found when it has no
// record.
func (c *Client) Room(ctx context.Context, namespace, room string) (Room, error) {
	namespace = orDefault(namespace)
	var out Room
	err := c.do(ctx, http.MethodGet, "/v1/admin/rooms/"+url.PathEscape(namespace)+"/"+url.PathEscape(room), namespace, nil, &out)
	return out, err
}

// Kick closes every session of identity in the room and returns their
// session ids; an APIError with code not_found when there is none.
func (c *Client) Kick(ctx context.Context, namespace, room, identity string) ([]string, error) {
	namespace = orDefault(namespace)
	var out struct {
		Kicked []string `json:"kicked"`
	}
	path := "/v1/admin/rooms/" + url.PathEscape(namespace) + "/" + url.PathEscape(room) + "/participants/" + url.PathEscape(identity)
	err := c.do(ctx, http.MethodDelete, path, namespace, nil, &out)
	return out.Kicked, err
}

func orDefault(ns string) string {
	if ns == "" {
		return DefaultNamespace
	}
	return ns
}

// maxAnswer bounds an answer body.
const maxAnswer = 16 << 20

// do calls the API with an admin token of namespace, sends in as JSON
// (when not nil) and decodes the JSON answer into out (when not nil).
func (c *Client) do(ctx context.Context, method, path, namespace string, in, out any) error {
	tok, err := NewToken(c.key, c.secret, TokenOptions{Identity: "serverapi", Namespace: namespace, Room: "*",
		Admin: true, TTL: 5 * time.Minute})
	if err != nil {
		return err
	}
	var reqBody io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("serverapi: %w", err)
		}
		reqBody = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, reqBody)
	if err != nil {
		return fmt.Errorf("serverapi: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("serverapi: %s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("serverapi: %s %s: read answer: %w", method, path, err)
	}
	if res.StatusCode/100 != 2 {
		var e struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(body, &e) != nil || e.Error.Code == "" {
			e.Error.Code, e.Error.Message = "http_"+fmt.Sprint(res.StatusCode), strings.TrimSpace(string(body))
		}
		return &APIError{Status: res.StatusCode, Code: e.Error.Code, Message: e.Error.Message}
	}
	if out == nil || len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("serverapi: %s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// BaseURL is the controller URL the client calls.
func (c *Client) BaseURL() string { return c.base }
