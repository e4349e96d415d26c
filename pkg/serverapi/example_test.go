package serverapi_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/rtcloud/rtcloud/internal/teststack"
	"github.com/rtcloud/rtcloud/pkg/serverapi"
)

func ExampleNewToken() {
	// The API key and secret the servers are configured with.
	tok, err := serverapi.NewToken("devkey", "secret", serverapi.TokenOptions{
		Identity: "alice", Name: "Alice", Room: "meet", Publish: true, Subscribe: true, TTL: time.Hour})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(strings.Count(tok, "."), "dots: a JWT")
	// Output: 2 dots: a JWT
}

// A webhook receiver: verify, then handle, then answer 2xx.
func ExampleVerifyWebhook() {
	keys := map[string]string{"devkey": "secret"}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev, err := serverapi.VerifyWebhook(r, keys)
		if err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		fmt.Println(ev.Type, ev.Namespace+"/"+ev.Room)
	})

	// What rtcloud sends:
	body := []byte(`{"id":"EV_7_0","type":"participant_joined","namespace":"default","room":"meet","object":{"identity":"alice"}}`)
	sig, _ := serverapi.SignWebhook(body, "devkey", "secret", time.Now())
	req := httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(body))
	req.Header.Set("Authorization", sig)
	handler.ServeHTTP(httptest.NewRecorder(), req)
	// Output: participant_joined default/meet
}

func ExampleClient_Nodes() {
	st, stop := teststack.Run(teststack.Options{}) // stands in for a running cluster
	defer stop()
	var e exampleTB
	defer e.stop()
	controllerURL := startController(&e, st)

	api := serverapi.New(controllerURL, "devkey", "secret")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for ctx.Err() == nil { // the controller hears the node's heartbeat within a second
		nodes, err := api.Nodes(ctx)
		if err == nil && len(nodes) > 0 {
			fmt.Println(len(nodes), "node, draining:", nodes[0].Draining)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Output: 1 node, draining: false
}
