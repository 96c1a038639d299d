"""The fake Dropbox's own HTTPS API, a subset of Dropbox API v2 for the official SDKs: all its wire format."""
