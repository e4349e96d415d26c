package egress

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/rtcloud/rtcloud/internal/config"
)

// storage places outputs: files are written under the local root
// (root/namespace/name) and, with a bucket, uploaded when finished and
// removed locally.
type storage struct {
	root  string
	s3    *minio.Client
	s3cfg config.S3
	log   *slog.Logger
}

func newStorage(c config.Egress, log *slog.Logger) (*storage, error) {
	root, err := filepath.Abs(c.OutputDir)
	if err != nil {
		return nil, err
	}
	s := &storage{root: root, s3cfg: c.S3, log: log}
	if c.S3.Bucket != "" {
		s.s3, err = minio.New(c.S3.Endpoint, &minio.Options{
			Creds:  credentials.NewStaticV4(c.S3.AccessKey, c.S3.SecretKey, ""),
			Secure: c.S3.Secure, Region: c.S3.Region,
		})
		if err != nil {
			return nil, fmt.Errorf("egress.s3: %w", err)
		}
	}
	return s, nil
}

// localPath returns where name (checked with CheckName) of namespace is
// written, and creates its directory.
func (s *storage) localPath(namespace, name string) (string, error) {
	if err := CheckName(name); err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	p := filepath.Join(s.root, namespace, filepath.FromSlash(name))
	if !strings.HasPrefix(p, s.root+string(filepath.Separator)) {
		return "", fmt.Errorf("%w: %q leaves the output directory", ErrBadRequest, name)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", err
	}
	return p, nil
}

// objectKey is the S3 key of name of namespace.
func (s *storage) objectKey(namespace, name string) string {
	return path.Join(s.s3cfg.Prefix, namespace, name)
}

// finish uploads a finished file (or every file of a finished HLS
// directory) when a bucket is configured and returns its location.
func (s *storage) finish(ctx context.Context, namespace, name, local string) (string, error) {
	if s.s3 == nil {
		return local, nil
	}
	st, err := os.Stat(local)
	if err != nil {
		return "", err
	}
	if !st.IsDir() {
		if err := s.upload(ctx, s.objectKey(namespace, name), local); err != nil {
			return "", err
		}
		_ = os.Remove(local)
		return fmt.Sprintf("s3://%s/%s", s.s3cfg.Bucket, s.objectKey(namespace, name)), nil
	}
	err = filepath.WalkDir(local, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(local, p)
		if err != nil {
			return err
		}
		return s.upload(ctx, s.objectKey(namespace, path.Join(name, filepath.ToSlash(rel))), p)
	})
	if err != nil {
		return "", err
	}
	_ = os.RemoveAll(local)
	return fmt.Sprintf("s3://%s/%s/", s.s3cfg.Bucket, s.objectKey(namespace, name)), nil
}

func (s *storage) upload(ctx context.Context, key, file string) error {
	ct := "application/octet-stream"
	switch path.Ext(file) {
	case ".mp4":
		ct = "video/mp4"
	case ".webm":
		ct = "video/webm"
	case ".ogg", ".opus":
		ct = "audio/ogg"
	case ".ts":
		ct = "video/mp2t"
	case ".m3u8":
		ct = "application/vnd.apple.mpegurl"
	}
	_, err := s.s3.FPutObject(ctx, s.s3cfg.Bucket, key, file, minio.PutObjectOptions{ContentType: ct})
	if err != nil {
		return fmt.Errorf("upload %s to s3://%s/%s: %w", file, s.s3cfg.Bucket, key, err)
	}
	s.log.Info("uploaded", "key", key, "bucket", s.s3cfg.Bucket)
	return nil
}
