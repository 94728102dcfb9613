"""End-to-end: the real ``parley serve`` (gunicorn) as a subprocess, driven over loopback HTTP."""
