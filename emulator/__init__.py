"""hub-emulator: an emulator of a cloud integration platform's Documents hub, events and a fake Dropbox."""

__version__ = "0.1.0"
