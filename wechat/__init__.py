"""The WeChat protocol: typed messages and events, reply values, crypto, XML parsing, the API client."""
