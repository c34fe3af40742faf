"""Pure inspection of model files on local disk. No ORM: each function returns facts or raises
InspectionError with a reason a user can act on."""


class InspectionError(Exception):
    """The artifact is unusable; the message says why in plain words."""
