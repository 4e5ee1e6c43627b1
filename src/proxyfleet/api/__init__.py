"""HTTP surfaces: the app factory, authentication, and one sub-package per surface.

Imports services and `core`; never storage.
"""
