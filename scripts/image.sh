#!/usr/bin/env bash
# Builds the rtcloud container image with whichever of podman, buildah or
# docker is installed (in that order; CONTAINER_TOOL=... to choose).
#
#   scripts/image.sh                  # image rtcloud:$(git describe)
#   IMAGE=registry.example.com/rtcloud/rtcloud scripts/image.sh
#
# The binary is compiled here with CGO_ENABLED=0 (a static binary) and the
# build context is laid out in build/image, so the Containerfile needs no base
# image and no network. Prints the image reference it built on the last line.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-rtcloud}
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
GO=${GO:-go}

tool=${CONTAINER_TOOL:-}
if [ -z "$tool" ]; then
  for t in podman buildah docker; do
    if command -v "$t" >/dev/null 2>&1; then tool=$t; break; fi
  done
fi
if [ -z "$tool" ]; then
  echo "image: none of podman, buildah or docker is installed (apt-get install podman)" >&2
  exit 1
fi

ctx=build/image
rm -rf "$ctx"
mkdir -p "$ctx/rootfs/usr/local/bin" "$ctx/rootfs/etc/ssl/certs" "$ctx/rootfs/tmp" "$ctx/home/rtcloud"
chmod 1777 "$ctx/rootfs/tmp"

CGO_ENABLED=0 $GO build -trimpath \
  -ldflags "-s -w -X github.com/rtcloud/rtcloud/internal/version.Version=$VERSION" \
  -o "$ctx/rootfs/usr/local/bin/rtcloud" ./cmd/rtcloud

certs=/etc/ssl/certs/ca-certificates.crt
if [ ! -f "$certs" ]; then
  echo "image: $certs is missing (apt-get install ca-certificates)" >&2
  exit 1
fi
cp "$certs" "$ctx/rootfs/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/sbin/nologin\nrtcloud:x:65532:65532:rtcloud:/home/rtcloud:/sbin/nologin\n' > "$ctx/rootfs/etc/passwd"
printf 'root:x:0:\nrtcloud:x:65532:\n' > "$ctx/rootfs/etc/group"
cp Containerfile "$ctx/Containerfile"

ref="$IMAGE:$VERSION"
case "$tool" in
  podman|docker)
    "$tool" build --build-arg "VERSION=$VERSION" -f "$ctx/Containerfile" -t "$ref" -t "$IMAGE:latest" "$ctx" >&2 ;;
  buildah)
    buildah bud --build-arg "VERSION=$VERSION" -f "$ctx/Containerfile" -t "$ref" -t "$IMAGE:latest" "$ctx" >&2 ;;
esac
echo "$ref"
