package dashboard

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/rtcloud/rtcloud/internal/auth"
)

// viewer is who a request's token speaks for.
type viewer struct {
	Identity  string `json:"identity"`
	Namespace string `json:"namespace"`
	// Operator tokens (admin, room "*", the operator namespace) see every
	// namespace and the nodes; tenant admin tokens see their namespace.
	Operator bool `json:"operator"`
}

// sees reports whether v may look at namespace ns.
func (v viewer) sees(ns string) bool { return v.Operator || v.Namespace == ns }

// viewerOf checks the request's bearer token: it must carry the admin
// grant for every room ("*") of a namespace.
func (d *Dashboard) viewerOf(r *http.Request) (viewer, error) {
	tok := ""
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		tok = strings.TrimSpace(h[7:])
	}
	claims, err := d.opts.Verifier.Verify(tok)
	if err != nil {
		return viewer{}, fmt.Errorf("%w: %v", ErrUnauthorized, err)
	}
	if !claims.Grant.Admin || claims.Grant.Room != "*" {
		return viewer{}, fmt.Errorf("%w: the dashboard needs an admin token for room * (rtcloud token --admin --room '*')", ErrForbidden)
	}
	ns := claims.Grant.Namespace
	return viewer{Identity: claims.Identity(), Namespace: ns, Operator: ns == d.opts.Cluster.OperatorNamespace()}, nil
}

// DevToken mints an operator token for `rtcloud dev`, whose dashboard
// signs in by itself.
func DevToken(key, secret, operatorNamespace string) (string, error) {
	return auth.Mint(auth.TokenOptions{Key: key, Secret: secret, Identity: "dev-operator", TTL: 12 * time.Hour,
		Grant: auth.Grant{Namespace: operatorNamespace, Room: "*", Admin: true}})
}
