#!/usr/bin/env bash
# Builds the rtcloud container image with whichever of podman, buildah or
# docker is installed (in that order; CONTAINER_TOOL=... to choose).
#
#   scripts/image.sh                  # image rtcloud:$(git describe)
#   IMAGE=registry.example.com/rtcloud/rtcloud scripts/image.sh
#   KIND=media scripts/image.sh       # image rtcloud-media: the same plus ffmpeg
#
# The media image is for the services that run ffmpeg (rtcloud egress,
# ingress and sip, and rtcloud dev with them): this machine's ffmpeg and
# ffprobe with every shared library they load (from ldd) and the dynamic
# loader, still on an empty base.
#
# The binary is compiled here with CGO_ENABLED=0 (a static binary) and the
# build context is laid out in build/image, so the Containerfile needs no base
# image and no network. Prints the image reference it built on the last line.
set -euo pipefail
cd "$(dirname "$0")/.."

KIND=${KIND:-plain}
case "$KIND" in
  plain) IMAGE=${IMAGE:-rtcloud}; TITLE=rtcloud ;;
  media) IMAGE=${IMAGE:-rtcloud-media}; TITLE=rtcloud-media ;;
  *) echo "image: KIND=$KIND: want plain or media" >&2; exit 2 ;;
esac
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
if [ "$KIND" = media ]; then
  for prog in ffmpeg ffprobe; do
    path=$(command -v "$prog" || true)
    if [ -z "$path" ]; then
      echo "image: $prog is missing (apt-get install ffmpeg)" >&2
      exit 1
    fi
    mkdir -p "$ctx/rootfs/usr/bin"
    cp -L "$path" "$ctx/rootfs/usr/bin/$prog"
    # Every library it loads, and the loader, at their paths.
    ldd "$path" | awk '/=> \// {print $3} /^\t\// {print $1}' | while read -r lib; do
      mkdir -p "$ctx/rootfs$(dirname "$lib")"
      cp -L "$lib" "$ctx/rootfs$lib"
    done
  done
fi
cp Containerfile "$ctx/Containerfile"

ref="$IMAGE:$VERSION"
case "$tool" in
  podman|docker)
    "$tool" build --build-arg "VERSION=$VERSION" --build-arg "TITLE=$TITLE" -f "$ctx/Containerfile" -t "$ref" -t "$IMAGE:latest" "$ctx" >&2 ;;
  buildah)
    buildah bud --build-arg "VERSION=$VERSION" --build-arg "TITLE=$TITLE" -f "$ctx/Containerfile" -t "$ref" -t "$IMAGE:latest" "$ctx" >&2 ;;
  *) echo "image: unknown container tool $tool" >&2; exit 1 ;;
esac
echo "$ref"
