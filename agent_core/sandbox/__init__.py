"""Sandboxes: a private machine per session where the agent installs packages and runs code.

* :mod:`.server` and :mod:`.fileops` run *inside* the sandbox (standard library only);
* :mod:`.client` talks to a running server;
* :mod:`.bundle` packs the server for upload;
* :mod:`.local` and :mod:`.spaces` are the two backends (a subprocess, a private HF Space);
* :mod:`.manager` gives each session at most one sandbox and tears it down.
"""
