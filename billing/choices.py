"""Enumerations of the price catalog. Later ledger code prices usage by (term, unit) from here."""

from django.db import models


class Provider(models.TextChoices):
    AWS = "aws", "AWS EC2"
    GCP = "gcp", "Google Cloud"
    AZURE = "azure", "Microsoft Azure"
    # SageMaker ml.* instances carry their own, higher prices than the EC2 instance they run on.
    SAGEMAKER = "sagemaker", "Amazon SageMaker"
    ONPREM = "onprem", "On premises"


class ItemKind(models.TextChoices):
    INSTANCE = "instance", "GPU instance"
    STORAGE = "storage", "Storage"
    SERVERLESS = "serverless", "Serverless"
    ONPREM = "onprem", "On-premises hardware"


class PriceTerm(models.TextChoices):
    ON_DEMAND = "on_demand", "On demand"
    SPOT = "spot", "Spot"
    COMMITTED = "committed", "Committed"


class PriceUnit(models.TextChoices):
    INSTANCE_HOUR = "instance_hour", "USD per instance-hour"
    GPU_HOUR = "gpu_hour", "USD per GPU-hour"
    GB_MONTH = "gb_month", "USD per GB-month"
    REQUEST = "request", "USD per request"
    GB_SECOND = "gb_second", "USD per GB-second"


# Which units a kind of item is priced in; the first is its default.
UNITS_BY_KIND: dict[str, tuple[str, ...]] = {
    ItemKind.INSTANCE: (PriceUnit.INSTANCE_HOUR,),
    ItemKind.STORAGE: (PriceUnit.GB_MONTH,),
    ItemKind.SERVERLESS: (PriceUnit.GB_SECOND, PriceUnit.REQUEST),
    ItemKind.ONPREM: (PriceUnit.GPU_HOUR,),
}
# Spot and committed terms exist only for capacity bought by the hour.
TERMS_BY_KIND: dict[str, tuple[str, ...]] = {
    ItemKind.INSTANCE: (PriceTerm.ON_DEMAND, PriceTerm.SPOT, PriceTerm.COMMITTED),
    ItemKind.STORAGE: (PriceTerm.ON_DEMAND,),
    ItemKind.SERVERLESS: (PriceTerm.ON_DEMAND,),
    ItemKind.ONPREM: (PriceTerm.ON_DEMAND,),
}


class Sensitivity(models.TextChoices):
    PUBLIC = "public", "Public"
    INTERNAL = "internal", "Internal"
    CONFIDENTIAL = "confidential", "Confidential or regulated"


class Traffic(models.TextChoices):
    STEADY = "steady", "Steady around the clock"
    BURSTY = "bursty", "Bursty (busy a few hours a day)"


class Precision(models.TextChoices):
    BF16 = "bf16", "BF16 / FP16"
    FP8 = "fp8", "FP8"
    INT8 = "int8", "INT8"
    INT4 = "int4", "INT4"


class CostCategory(models.TextChoices):
    GPU_COMPUTE = "gpu_compute", "GPU compute"
    STORAGE = "storage", "Storage"
    REQUESTS = "requests", "Requests"
    NETWORK = "network", "Network"
    AMORTISED_HARDWARE = "amortised_hardware", "Amortised hardware"
    # Own GPUs nobody used in the hour; allocated by share of use or to the platform.
    IDLE_CAPACITY = "idle_capacity", "Idle on-premises capacity"


class IdleAllocation(models.TextChoices):
    SHARE = "share", "To teams, by their share of use"
    PLATFORM = "platform", "To the platform"


class BudgetAlertKind(models.TextChoices):
    PCT_50 = "50", "50 % of budget"
    PCT_80 = "80", "80 % of budget"
    PCT_100 = "100", "100 % of budget"
    FORECAST = "forecast", "Month-end forecast over budget"
