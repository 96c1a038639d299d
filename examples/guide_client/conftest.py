"""The guide client's test setup: nothing but making `import guide_client` work from tests/."""
