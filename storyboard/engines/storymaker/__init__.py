"""The StoryMaker engine: consistent characters on SDXL (adapter, attention processors, encoding, pipeline)."""
