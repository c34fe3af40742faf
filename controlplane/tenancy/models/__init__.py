from .audit import AuditChain, AuditEvent, AuditResult
from .platform import PlatformGrant
from .teams import Membership, Team
from .tokens import ApiToken

__all__ = ["ApiToken", "AuditChain", "AuditEvent", "AuditResult", "Membership", "PlatformGrant", "Team"]
