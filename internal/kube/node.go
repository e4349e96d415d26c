// Package kube reads, from the Kubernetes API a pod runs under, what an SFU
// node needs to know about its machine: the region and zone labels of the
// Kubernetes node. The downward API cannot expose node labels to a pod, so
// `rtcloud sfu` asks the API server itself, with the pod's service account
// (which needs "get" on nodes; deploy/kubernetes/sfu.yaml grants it).
package kube

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// The well-known labels Kubernetes sets on nodes of a cloud provider.
const (
	LabelRegion = "topology.kubernetes.io/region"
	LabelZone   = "topology.kubernetes.io/zone"
)

// ServiceAccountDir is where Kubernetes mounts a pod's service account.
const ServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// ErrNotInCluster means the process does not run in a Kubernetes pod.
var ErrNotInCluster = errors.New("kube: not running in a Kubernetes pod (KUBERNETES_SERVICE_HOST unset)")

// Client talks to the API server with a bearer token.
type Client struct {
	// BaseURL is the API server, e.g. https://10.96.0.1:443.
	BaseURL string
	Token   string
	HTTP    *http.Client
}

// InCluster builds a client from the pod's environment and service account.
func InCluster() (*Client, error) {
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return nil, ErrNotInCluster
	}
	return FromDir("https://"+net.JoinHostPort(host, port), ServiceAccountDir)
}

// FromDir builds a client for the API server at base with the token and CA
// certificate in dir (laid out like a mounted service account).
func FromDir(base, dir string) (*Client, error) {
	token, err := os.ReadFile(dir + "/token")
	if err != nil {
		return nil, fmt.Errorf("kube: service account token: %w", err)
	}
	ca, err := os.ReadFile(dir + "/ca.crt")
	if err != nil {
		return nil, fmt.Errorf("kube: service account CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("kube: %s/ca.crt holds no PEM certificate", dir)
	}
	return &Client{
		BaseURL: base,
		Token:   strings.TrimSpace(string(token)),
		HTTP: &http.Client{
			Timeout:   10 * time.Second,
			Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
		},
	}, nil
}

// Topology is where a Kubernetes node is.
type Topology struct {
	Region, Zone string
}

// NodeTopology reads the region and zone labels of the node named name.
// A node without the labels yields empty strings, not an error.
func (c *Client) NodeTopology(ctx context.Context, name string) (Topology, error) {
	if name == "" {
		return Topology{}, errors.New("kube: empty node name")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL+"/api/v1/nodes/"+url.PathEscape(name), nil)
	if err != nil {
		return Topology{}, fmt.Errorf("kube: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Accept", "application/json")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return Topology{}, fmt.Errorf("kube: get node %s: %w", name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return Topology{}, fmt.Errorf("kube: get node %s: %w", name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return Topology{}, fmt.Errorf("kube: get node %s: %s (may the pod's service account \"get\" nodes?)", name, resp.Status)
	}
	var node struct {
		Metadata struct {
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(body, &node); err != nil {
		return Topology{}, fmt.Errorf("kube: node %s: %w", name, err)
	}
	return Topology{Region: node.Metadata.Labels[LabelRegion], Zone: node.Metadata.Labels[LabelZone]}, nil
}
