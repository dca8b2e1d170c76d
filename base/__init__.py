"""The base layer: clock, settings, phone numbers, the phone vault, metrics. Imports nothing of ours."""
