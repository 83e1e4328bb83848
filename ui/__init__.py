"""Gradio Blocks UI: one module per area, built on storyboard/ handlers."""
