"""The mirror app's test setup: the hub-emulator plugin gives `hub_emulator`, `callback_sink` and
`provision_dropbox` with no code here; this file only makes `import mirror` work from tests/."""
