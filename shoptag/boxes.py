"""The one box type every layer shares (video regions, model pooling, tags), kept out of any
one layer so that none has to import another for it."""

Box = tuple[int, int, int, int]  # x, y, w, h in image pixels
