"""Data files the console ships: the protocol (alarm limits, intervals), style sheet, icons.

This folder installs as the package ``console_resources`` so that both an editable
install and a plain ``pip install .`` find it; read it only through
``console.resources``.
"""
