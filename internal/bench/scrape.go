package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// serverSample is what the load generator reads from the server's
// Prometheus text exposition.
type serverSample struct {
	At          time.Time
	CPUSeconds  float64
	RSSBytes    float64
	PacketsOut  float64
	BytesOut    float64
	PacketsIn   float64
	NACKs       float64 // NACKed packets requested by subscribers
	Retransmits float64
	RtxSkipped  float64 // NACKed packets the server's budget did not resend
	OK          bool
}

// scrape fetches and parses url.
func scrape(ctx context.Context, hc *http.Client, url string) (serverSample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return serverSample{}, fmt.Errorf("%w: %w", ErrMetrics, err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return serverSample{}, fmt.Errorf("%w: %w", ErrMetrics, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return serverSample{}, fmt.Errorf("%w: %s: HTTP %d", ErrMetrics, url, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return serverSample{}, fmt.Errorf("%w: %w", ErrMetrics, err)
	}
	s := parseMetrics(body)
	s.At = time.Now()
	return s, nil
}

// parseMetrics sums the samples the benchmark needs from a Prometheus text
// exposition. Unknown lines and malformed values are skipped.
func parseMetrics(body []byte) serverSample {
	var s serverSample
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, labels, value, ok := splitSample(line)
		if !ok {
			continue
		}
		switch {
		case name == "process_cpu_seconds_total":
			s.CPUSeconds, s.OK = value, true
		case name == "process_resident_memory_bytes":
			s.RSSBytes = value
		case name == "rtcloud_sfu_packets_total" && strings.Contains(labels, `direction="out"`):
			s.PacketsOut += value
		case name == "rtcloud_sfu_packets_total" && strings.Contains(labels, `direction="in"`):
			s.PacketsIn += value
		case name == "rtcloud_sfu_bytes_total" && strings.Contains(labels, `direction="out"`):
			s.BytesOut += value
		case name == "rtcloud_sfu_nacks_received_total":
			s.NACKs += value
		case name == "rtcloud_sfu_retransmissions_total":
			s.Retransmits += value
		case name == "rtcloud_sfu_retransmissions_skipped_total":
			s.RtxSkipped += value
		}
	}
	return s
}

// splitSample splits `name{labels} value [timestamp]`.
func splitSample(line string) (name, labels string, value float64, ok bool) {
	rest := line
	if i := strings.IndexByte(line, '{'); i >= 0 {
		j := strings.LastIndexByte(line, '}')
		if j < i {
			return "", "", 0, false
		}
		name, labels, rest = line[:i], line[i+1:j], line[j+1:]
	} else {
		sp := strings.IndexByte(line, ' ')
		if sp < 0 {
			return "", "", 0, false
		}
		name, rest = line[:sp], line[sp:]
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return "", "", 0, false
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return "", "", 0, false
	}
	return name, labels, v, true
}
