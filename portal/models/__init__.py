"""All models, imported here so Alembic and the app see one metadata."""
from .admin import Admin, AdminLoginFailures
from .api_token import ApiToken
from .audit import AuditEvent
from .command import BulkCommand, Command
from .device import Device
from .enrollment_access_token import EnrollmentAccessToken
from .inventory import DeviceAccount, DeviceApp, DeviceCertificate, DeviceInventory, DeviceProfile, InventoryChange
from .migration import LegacyMigration
from .offboarding import EnrollmentRetirement
from .pki import EnrollmentGrant, PkiIdentity
from .privacy import PrivacyAcknowledgement
from .profile import Profile, ProfileState
from .push import PushOutbox
from .rate_limit import RateLimitHit
from .scope import Group, GroupMembership, ScopeTarget, SmartGroup
from .setting import Setting
from .user import EndUser
from .user_identity import UserIdentityChallenge  # noqa: F401 (one metadata for Alembic)
from .app import App, AppLicense, AppState, AppUser, VppToken  # noqa: E402
from .mail import MailOutbox, MailTemplate, MigrationNotice
from .alert import AdminAlert, AlertOptOut
from .legacy_import import LegacyImport
from .declaration import DdmEnrollment, Declaration, DeclarationAssignment, DeclarationStatus  # noqa: E402

__all__ = ["Admin", "AdminLoginFailures", "ApiToken", "AuditEvent", "BulkCommand", "Command", "Device", "DeviceAccount", "DeviceApp", "DeviceCertificate",
           "DeviceInventory", "DeviceProfile", "EndUser", "EnrollmentAccessToken", "EnrollmentGrant", "Group", "GroupMembership", "InventoryChange",
           "LegacyMigration", "PkiIdentity", "PrivacyAcknowledgement", "Profile", "ProfileState", "PushOutbox", "RateLimitHit",
           "ScopeTarget", "Setting", "SmartGroup"]
__all__ += ["App", "AppLicense", "AppState", "AppUser", "VppToken"]
__all__ += ["EnrollmentRetirement"]
__all__ += ["MailOutbox", "MailTemplate", "MigrationNotice", "AdminAlert", "AlertOptOut", "LegacyImport"]
__all__ += ["DdmEnrollment", "Declaration", "DeclarationAssignment", "DeclarationStatus"]
