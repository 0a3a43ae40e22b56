"""``dfscan explain``: what the detector sees in one video, as a static page.

``analysis`` gathers a video's scan, faces and every family's view of them; ``compare``
names the differences from a real reference; ``page`` writes the page (``models.pages``).
"""
