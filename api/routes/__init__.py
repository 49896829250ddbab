"""One router per resource: health, tags, jobs, products."""
