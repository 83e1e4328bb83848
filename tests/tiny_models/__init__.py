"""Tiny random-weight models in the real file formats, built on the fly by tests (CPU, seconds, no downloads).

face.py: an insightface buffalo_l pack (SCRFD-layout detector + 112 px recognition) and test pictures;
clip.py: an open_clip ViT folder; sdxl.py: SDXL, ControlNet and StoryMaker adapter parts.
"""
