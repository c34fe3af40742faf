from .catalog import CatalogItem, GpuType, OnPremProfile
from .prices import Price

__all__ = ["CatalogItem", "GpuType", "OnPremProfile", "Price"]
