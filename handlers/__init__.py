"""Handlers decide what to answer. They return reply values and do no HTTP themselves."""
