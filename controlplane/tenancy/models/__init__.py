from .audit import AuditChain, AuditEvent, AuditResult
from .teams import Membership, Team
from .tokens import ApiToken

__all__ = ["ApiToken", "AuditChain", "AuditEvent", "AuditResult", "Membership", "Team"]
