package testenv

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
)

// NodeSessions reads how many sessions SFU node name serves from the
// /metrics at base (its metrics address); -1 when it does not answer.
func NodeSessions(base, name string) int {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^rtcloud_sfu_sessions\{node="` + regexp.QuoteMeta(name) + `"\} (\d+)`).FindSubmatch(body)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}
