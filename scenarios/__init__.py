"""Scenario scripts shipped with the emulator: this folder is installed as the package `emulator.scenarios_data`."""
