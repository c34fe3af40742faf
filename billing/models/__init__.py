from .budgets import BudgetAlert
from .catalog import CatalogItem, GpuType, OnPremProfile
from .ledger import CostEntry
from .prices import Price
from .usage import MeterReading, UsageRecord

__all__ = [
    "BudgetAlert",
    "CatalogItem",
    "CostEntry",
    "GpuType",
    "MeterReading",
    "OnPremProfile",
    "Price",
    "UsageRecord",
]
