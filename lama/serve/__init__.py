"""`task=serve`: a local web page (static/index.html) and JSON API to draw layouts and see a generator's
image, raw masks and adapted masks."""
