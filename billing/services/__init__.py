from .catalog import (
    catalog_item_create,
    catalog_seed,
    gpu_type_create,
    gpu_type_update,
    onprem_profile_create,
    onprem_profile_update,
    price_add,
)

__all__ = [
    "catalog_item_create",
    "catalog_seed",
    "gpu_type_create",
    "gpu_type_update",
    "onprem_profile_create",
    "onprem_profile_update",
    "price_add",
]
