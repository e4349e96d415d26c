package egress

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/config"
	"github.com/rtcloud/rtcloud/internal/testenv"
)

// Finished files go to an S3 bucket. The server is gofakes3 (an S3
// implementation in Go) over real HTTP on loopback: Debian has no
// S3-compatible server that runs without a cluster (radosgw needs Ceph).
func TestOutputsAreUploadedToS3(t *testing.T) {
	s3srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	defer s3srv.Close()
	endpoint := strings.TrimPrefix(s3srv.URL, "http://")
	mc, err := minio.New(endpoint, &minio.Options{Creds: credentials.NewStaticV4("key", "secret", ""), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testenv.Context(t, 60*time.Second)
	if err := mc.MakeBucket(ctx, "recordings", minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	e.worker(func(c *config.Egress) {
		c.S3 = config.S3{Endpoint: endpoint, Bucket: "recordings", Region: "us-east-1", AccessKey: "key", SecretKey: "secret", Prefix: "rtc"}
	})
	e.publish("cloud", "alice", true, true)
	info := e.start(bus.EgressRequest{Room: "cloud", Type: bus.EgressTypeRoom,
		Outputs: []bus.EgressOutput{{File: "meet/cloud.mp4"}, {HLS: "meet/live/"}}})
	e.waitDuration(info.EgressID, 3*time.Second)
	end := e.stop(info.EgressID)
	if end.Status != bus.EgressComplete {
		t.Fatalf("ended %s: %s", end.Status, end.Reason)
	}
	want := map[string]string{"meet/cloud.mp4": "s3://recordings/rtc/default/meet/cloud.mp4", "meet/live": "s3://recordings/rtc/default/meet/live/"}
	for _, r := range end.Results {
		if n := r.File + r.HLS; r.Location != want[n] || r.Error != "" {
			t.Fatalf("result %+v, want location %s", r, want[n])
		}
	}
	if _, err := os.Stat(filepath.Join(e.out, auth.DefaultNamespace, "meet", "cloud.mp4")); !os.IsNotExist(err) {
		t.Fatalf("local copy kept after upload: %v", err)
	}
	objects := map[string]int64{}
	for o := range mc.ListObjects(ctx, "recordings", minio.ListObjectsOptions{Prefix: "rtc/", Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		objects[o.Key] = o.Size
	}
	if objects["rtc/default/meet/cloud.mp4"] == 0 || objects["rtc/default/meet/live/index.m3u8"] == 0 || objects["rtc/default/meet/live/seg_00000.ts"] == 0 {
		t.Fatalf("objects: %v", objects)
	}
	local := filepath.Join(t.TempDir(), "down.mp4")
	if err := mc.FGetObject(ctx, "recordings", "rtc/default/meet/cloud.mp4", local, minio.GetObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if c, d := probe(t, local); len(c) != 2 || d < 2.5 {
		t.Fatalf("downloaded: %v %.2fs", c, d)
	}
	decodes(t, local)
}
