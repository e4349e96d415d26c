package bench

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
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
	// Forward is the server's histogram of read -> last write of a
	// fan-out: cumulative counts by upper bound (seconds), ascending.
	Forward []bucket
	OK      bool
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
		case name == "rtcloud_sfu_forward_seconds_bucket":
			s.Forward = addBucket(s.Forward, labels, value)
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

// bucket is one cumulative histogram bucket.
type bucket struct {
	Le    float64
	Count float64
}

// addBucket adds a `le` sample to bs, kept sorted by bound (several nodes'
// histograms with the same bounds add up).
func addBucket(bs []bucket, labels string, v float64) []bucket {
	i := strings.Index(labels, `le="`)
	if i < 0 {
		return bs
	}
	rest := labels[i+4:]
	j := strings.IndexByte(rest, '"')
	if j < 0 {
		return bs
	}
	le, err := strconv.ParseFloat(rest[:j], 64) // "+Inf" parses as +Inf
	if err != nil {
		return bs
	}
	for k := range bs {
		if bs[k].Le == le {
			bs[k].Count += v
			return bs
		}
	}
	bs = append(bs, bucket{Le: le, Count: v})
	slices.SortFunc(bs, func(a, b bucket) int { return cmp.Compare(a.Le, b.Le) })
	return bs
}

// histQuantile is quantile q of the observations between two samples of
// a cumulative histogram (b later than a), interpolated linearly inside
// the bucket; 0 when nothing was observed. The +Inf bucket answers with
// the largest finite bound.
func histQuantile(a, b []bucket, q float64) float64 {
	if len(b) == 0 {
		return 0
	}
	delta := make([]float64, len(b))
	for i := range b {
		delta[i] = b[i].Count
		for _, x := range a {
			if x.Le == b[i].Le {
				delta[i] -= x.Count
			}
		}
	}
	total := delta[len(delta)-1]
	if total <= 0 {
		return 0
	}
	rank := q * total
	lo, prev := 0.0, 0.0
	for i, c := range delta {
		if c >= rank {
			if math.IsInf(b[i].Le, 1) {
				return lo
			}
			if c == prev {
				return b[i].Le
			}
			return lo + (b[i].Le-lo)*(rank-prev)/(c-prev)
		}
		lo, prev = b[i].Le, c
		if math.IsInf(lo, 1) {
			break
		}
	}
	return lo
}
