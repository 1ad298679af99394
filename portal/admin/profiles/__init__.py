"""The configuration-profile pages of the console: library, upload, builder, profile page and download,
scope editor with its preview, per-profile device status, and smart groups. Routes register on the
admin blueprint; every change goes through ``portal.profiles.service``, as the API's do."""
from . import builder, library, scope_editor, smart_groups, status  # noqa: F401  (routes register on bp)
