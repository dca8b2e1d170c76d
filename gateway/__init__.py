"""The edge: WeChat callbacks over HTTP in, typed events to the handlers, reply values back out."""
