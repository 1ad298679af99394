"""All models, imported here so Alembic and the app see one metadata."""
from .admin import Admin
from .api_token import ApiToken
from .audit import AuditEvent
from .command import BulkCommand, Command
from .device import Device
from .inventory import DeviceApp, DeviceCertificate, DeviceInventory, DeviceProfile, InventoryChange
from .pki import EnrollmentGrant, PkiIdentity
from .privacy import PrivacyAcknowledgement
from .setting import Setting
from .user import EndUser

__all__ = ["Admin", "ApiToken", "AuditEvent", "BulkCommand", "Command", "Device", "DeviceApp", "DeviceCertificate",
           "DeviceInventory", "DeviceProfile", "EndUser", "EnrollmentGrant", "InventoryChange", "PkiIdentity",
           "PrivacyAcknowledgement", "Setting"]
