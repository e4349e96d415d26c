package adminapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rtcloud/rtcloud/internal/auth"
)

func TestAuthorize(t *testing.T) {
	v := auth.NewVerifier(map[string]string{auth.DevKey: auth.DevSecret})
	mint := func(g auth.Grant) string {
		tok, err := auth.Mint(auth.TokenOptions{Key: auth.DevKey, Secret: auth.DevSecret, Identity: "a", Grant: g})
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + tok
	}
	admin := mint(auth.Grant{Namespace: "ns", Room: "*", Admin: true})
	for _, tc := range []struct {
		name, header, ns string
		status           int
		code             string
	}{
		{"no token", "", "ns", http.StatusUnauthorized, "unauthorized"},
		{"bad token", "Bearer x.y.z", "ns", http.StatusUnauthorized, "unauthorized"},
		{"not admin", mint(auth.Grant{Namespace: "ns", Room: "r", Publish: true}), "ns", http.StatusForbidden, "forbidden"},
		{"other namespace", admin, "other", http.StatusForbidden, "forbidden"},
		{"admin", admin, "ns", http.StatusOK, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			w := httptest.NewRecorder()
			ok := Authorize(w, r, v, tc.ns, "r")
			if ok != (tc.status == http.StatusOK) || w.Code != tc.status {
				t.Fatalf("ok %v, status %d; want status %d", ok, w.Code, tc.status)
			}
			if ok {
				return
			}
			var body errorJSON
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error.Code != tc.code || body.Error.Message == "" {
				t.Fatalf("body %q (%v); want code %q and a message", w.Body.String(), err, tc.code)
			}
			if (tc.status == http.StatusUnauthorized) != (w.Header().Get("WWW-Authenticate") != "") {
				t.Fatalf("WWW-Authenticate %q with status %d", w.Header().Get("WWW-Authenticate"), tc.status)
			}
		})
	}
}
