package kube

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// apiServer is a TLS server answering GET /api/v1/nodes/{name} like the
// Kubernetes API server, for the given token only.
func apiServer(t *testing.T, token string, nodes map[string]map[string]string) (*httptest.Server, string) {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, `{"kind":"Status","code":401}`, http.StatusUnauthorized)
			return
		}
		name, ok := strings.CutPrefix(r.URL.Path, "/api/v1/nodes/")
		labels, found := nodes[name]
		if !ok || !found {
			http.Error(w, `{"kind":"Status","code":404}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		var b strings.Builder
		b.WriteString(`{"kind":"Node","metadata":{"name":"` + name + `","labels":{`)
		first := true
		for k, v := range labels {
			if !first {
				b.WriteString(",")
			}
			first = false
			b.WriteString(`"` + k + `":"` + v + `"`)
		}
		b.WriteString(`}}}`)
		_, _ = w.Write([]byte(b.String()))
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), ca, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return srv, dir
}

func TestNodeTopology(t *testing.T) {
	srv, dir := apiServer(t, "sa-token", map[string]map[string]string{
		"worker-1": {LabelRegion: "eu-west", LabelZone: "eu-west-1b", "kubernetes.io/os": "linux"},
		"worker-2": {"kubernetes.io/os": "linux"},
	})
	c, err := FromDir(srv.URL, dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.NodeTopology(context.Background(), "worker-1")
	if err != nil || got != (Topology{Region: "eu-west", Zone: "eu-west-1b"}) {
		t.Fatalf("worker-1: %+v, %v", got, err)
	}
	got, err = c.NodeTopology(context.Background(), "worker-2")
	if err != nil || got != (Topology{}) {
		t.Fatalf("unlabelled worker-2: %+v, %v", got, err)
	}
	if _, err := c.NodeTopology(context.Background(), "missing"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("missing node: %v", err)
	}
	c.Token = "other"
	if _, err := c.NodeTopology(context.Background(), "worker-1"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong token: %v", err)
	}
}

func TestFromDirErrors(t *testing.T) {
	if _, err := FromDir("https://127.0.0.1:1", t.TempDir()); err == nil {
		t.Fatal("no service account files: want an error")
	}
	dir := t.TempDir()
	_ = os.WriteFile(filepath.Join(dir, "token"), []byte("x"), 0o600)
	_ = os.WriteFile(filepath.Join(dir, "ca.crt"), []byte("not pem"), 0o600)
	if _, err := FromDir("https://127.0.0.1:1", dir); err == nil {
		t.Fatal("bad CA: want an error")
	}
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	if _, err := InCluster(); err != ErrNotInCluster {
		t.Fatalf("InCluster outside a pod: %v", err)
	}
}
