"""Engagement: where followers come from (channel QR codes) and what they do with what we send."""
