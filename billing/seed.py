"""Seed data for the price catalog, transcribed from ../shared/reference/gpu-catalog.md (compiled
2026-11-24). `billing.services.catalog_seed` loads it; it only adds what is missing, so admins'
later prices and edits survive every `make run`.

Effective dates: a price takes effect on the date its source states (the page date, or the date
a change was announced). Reference rows without a date — the [K] list prices "as published
2024-mid 2025" and the pre-cut P-family list prices — are recorded from BASELINE, the earliest
date the reference vouches for them; the note on each such row says so. Rows marked [K] in the
reference are `unverified`.
"""

from datetime import date

BASELINE = date(2025, 1, 1)
JUNE_2025_CUT = date(2025, 6, 1)  # reference P3: AWS cut P4d/P4de/P5 On-Demand prices in June 2025

SOURCES = {
    "S1": "glennklockwood.com/garden/processors/h100 (H100 SXM5 table), n.d.",
    "S2": "archive-lib.hpctech.co.jp/gpuproduct/nvidia-h100.html (H100 SXM vs PCIe), n.d.",
    "S3": "glennklockwood.com/garden/processors/A100 (cites NVIDIA A100 datasheet r4), n.d.",
    "S4": "svethardware.cz/nvidia-predstavila-akcelerator-a100-s-80-gb-rychle-pameti/55366, 2020",
    "S5": "lzwjava.github.io/nvidia-h200-gpu-specs-en; aiwiki.ai/wiki/nvidia_h200 (2026-06-21)",
    "S6": "grokipedia.com/page/NVIDIA_L4_vs_L40S, n.d.",
    "S7": "mullet.se/product.html?product_id=355414 (NVIDIA L40/L40S datasheet table), n.d.",
    "S8": "networkoutlet.com/blogs/articles/nvidia-tesla-t4-16gb-gpu-specs-performance-use-cases; "
    "huggingface.co/spaces/Elfsong/gcp_allocator",
    "S9": "baseten.co/blog/nvidia-a10-vs-a10g-for-ml-model-inference, n.d.",
    "S10": "jaredwatkins.com/research/ai-accelerators/amd-instinct/mi300-series; "
    "aiwiki.ai/wiki/amd_instinct_mi300x",
    "S11": "boardor.com/blog/huawei-ascend-910b-outperforms-h20-910c-approaches-h100 "
    "vs oryoy.com 910B article (conflicting, unofficial)",
    "S13": "docs.cloud.google.com/compute/docs/gpus, n.d.",
    "P1": "factualminds.com/blog/amazon-ec2-on-demand-pricing-instance-families-2026 (2026-06-17)",
    "P2": "usage.ai/blogs/finops/ai-ml-cost/gpu-instance-cost-optimization "
    "(updated 2026-06-24; pre-cut list prices)",
    "P3": "usage.ai/blogs/aws/ai-ml-cost/llm-cost-optimization-aws (June 2025 AWS GPU price cut; 2026-06-30)",
    "P4": "costnimbus.com/article/gpu-cost-management-ml-teams (March 2026 table)",
    "P5": "AWS EC2 Capacity Blocks pricing page, copy at sibshop.uat.jiralog.com/ec2/capacityblocks/pricing",
    "P6": "sjramblings.io/inference-tax-nobody-budgeted-for (Jan 2026 Capacity Block increase)",
    "P7": "zircon.tech/blog/the-real-cost-of-running-ai-models-on-aws-sagemaker-inference-deep-dive "
    "(Oct 2025)",
    "P8": "wring.co/blog/aws-sagemaker-inference-guide (2026-03-15)",
    "P9": "rmmartins.com/2026/06/11/cost-engineering-for-ai-when-idle-gpus-cost-more-than-your-car",
    "P15": "awsnegotiations.com/gpu-instance-cost-strategy.html (May 2026, list on-demand estimates)",
    "K": "reference [K]: aws.amazon.com/ec2/pricing/on-demand, aws.amazon.com/sagemaker/pricing, "
    "cloud.google.com/compute/gpus-pricing, azure.microsoft.com/pricing/details/virtual-machines/linux "
    "as published 2024-mid 2025; not re-verified",
    # Not in the reference: storage and serverless prices come from the seed author's knowledge of
    # the providers' pricing pages and are unverified like [K].
    "K2": "not in the reference: aws.amazon.com/s3/pricing, aws.amazon.com/ebs/pricing, "
    "cloud.google.com/storage/pricing, aws.amazon.com/sagemaker/pricing, aws.amazon.com/lambda/pricing "
    "as the catalog's author knows them; verify before billing",
    "EXAMPLE": "illustrative figures for a first on-premises profile, not a quote: "
    "replace them with your own",
}

# slug, name, memory GB, bandwidth GB/s, BF16 (or FP16) dense TFLOPS, FP8 dense TFLOPS, bf16, fp8,
# source key, unverified, notes
GPU_TYPES = [
    (
        "t4-16gb",
        "NVIDIA T4",
        16,
        320,
        65,
        None,
        False,
        False,
        "S8",
        False,
        "No BF16 (65 TFLOPS is FP16 mixed precision) and no FP8; INT8 130 TOPS.",
    ),
    ("l4-24gb", "NVIDIA L4", 24, 300, 121, 242.5, True, True, "S6", False, "72 W, Ada."),
    (
        "a10g-24gb",
        "NVIDIA A10G",
        24,
        600,
        70,
        None,
        True,
        False,
        "S9",
        True,
        "AWS-only A10 variant; ≈70 TFLOPS is [K] (Baseten table); A10: 125.",
    ),
    ("l40s-48gb", "NVIDIA L40S", 48, 864, 362, 733, True, True, "S7", False, "PCIe only, no NVLink."),
    ("a100-sxm-40gb", "NVIDIA A100 40GB SXM", 40, 1555, 312, None, True, False, "S3", False, ""),
    (
        "a100-pcie-80gb",
        "NVIDIA A100 80GB PCIe",
        80,
        1935,
        312,
        None,
        True,
        False,
        "K",
        True,
        "Bandwidth 1,935 GB/s is [K] (reference §1 note on A100 80GB).",
    ),
    (
        "a100-sxm-80gb",
        "NVIDIA A100 80GB SXM",
        80,
        2039,
        312,
        None,
        True,
        False,
        "S3",
        False,
        "S4 confirms 2,039 GB/s.",
    ),
    ("h100-pcie-80gb", "NVIDIA H100 PCIe 80GB", 80, 2000, 756, 1513, True, True, "S2", False, ""),
    (
        "h100-sxm-80gb",
        "NVIDIA H100 SXM 80GB",
        80,
        3350,
        989,
        1979,
        True,
        True,
        "S1",
        False,
        "Roofline ridge ≈295 FLOP/byte (S12).",
    ),
    (
        "h100-nvl-94gb",
        "NVIDIA H100 NVL 94GB",
        94,
        3900,
        None,
        None,
        True,
        True,
        "K",
        True,
        "Memory and bandwidth [K] (Azure NC H100 v5); TFLOPS not in the reference.",
    ),
    (
        "h200-sxm-141gb",
        "NVIDIA H200 141GB",
        141,
        4800,
        989,
        1979,
        True,
        True,
        "S5",
        False,
        "Same GH100 die as H100 SXM (S1).",
    ),
    (
        "mi300x-192gb",
        "AMD Instinct MI300X",
        192,
        5300,
        1307,
        2615,
        True,
        True,
        "S10",
        False,
        "Some pages label 2,615 as dense FP16; it is the sparse figure.",
    ),
    (
        "ascend-910b-64gb",
        "Huawei Ascend 910B",
        64,
        400,
        320,
        None,
        False,
        False,
        "S11",
        True,
        "Low confidence: one page says 32 GB; bandwidth 400 GB/s vs 1.2 TB/s; no Huawei datasheet found. "
        "FP16 only.",
    ),
]

# provider, region, sku, gpu slug, GPUs, [price rows]; a price row is
# (term, USD per instance-hour, effective date, source key, unverified, note)
OD, SPOT, COMMITTED = "on_demand", "spot", "committed"
_K = "[K] list price; effective date not stated, recorded from 2025-01-01"
INSTANCES = [
    ("aws", "us-east-1", "g4dn.xlarge", "t4-16gb", 1, [(OD, "0.526", BASELINE, "K", True, _K)]),
    ("aws", "us-east-1", "g4dn.12xlarge", "t4-16gb", 4, [(OD, "3.912", BASELINE, "K", True, _K)]),
    ("aws", "us-east-1", "g5.xlarge", "a10g-24gb", 1, [(OD, "1.006", date(2026, 6, 17), "P1", False, "")]),
    ("aws", "us-east-1", "g5.12xlarge", "a10g-24gb", 4, [(OD, "5.672", BASELINE, "K", True, _K)]),
    ("aws", "us-east-1", "g5.48xlarge", "a10g-24gb", 8, [(OD, "16.288", BASELINE, "K", True, _K)]),
    (
        "aws",
        "us-east-1",
        "g6.xlarge",
        "l4-24gb",
        1,
        [(OD, "0.8048", BASELINE, "K", True, _K + "; P4 (March 2026) quotes ~$0.80-1.10")],
    ),
    ("aws", "us-east-1", "g6.12xlarge", "l4-24gb", 4, [(OD, "4.6016", BASELINE, "K", True, _K)]),
    ("aws", "us-east-1", "g6.48xlarge", "l4-24gb", 8, [(OD, "13.3504", BASELINE, "K", True, _K)]),
    ("aws", "us-east-1", "g6e.xlarge", "l40s-48gb", 1, [(OD, "1.861", BASELINE, "K", True, _K)]),
    ("aws", "us-east-1", "g6e.12xlarge", "l40s-48gb", 4, [(OD, "10.493", BASELINE, "K", True, _K)]),
    ("aws", "us-east-1", "g6e.48xlarge", "l40s-48gb", 8, [(OD, "30.131", BASELINE, "K", True, _K)]),
    (
        "aws",
        "us-east-1",
        "p4d.24xlarge",
        "a100-sxm-40gb",
        8,
        [
            (
                OD,
                "32.77",
                BASELINE,
                "P2",
                False,
                "Pre-cut list price; in force before June 2025, start not stated",
            ),
            (OD, "21.96", JUNE_2025_CUT, "K", True, "≈ after the June 2025 cut (−33%, P3); value [K]"),
        ],
    ),
    (
        "aws",
        "us-east-1",
        "p4de.24xlarge",
        "a100-sxm-80gb",
        8,
        [
            (OD, "40.97", BASELINE, "K", True, _K),
            (OD, "27.45", JUNE_2025_CUT, "K", True, "≈ after the June 2025 cut (P3); value [K]"),
        ],
    ),
    (
        "aws",
        "us-east-1",
        "p5.48xlarge",
        "h100-sxm-80gb",
        8,
        [
            (OD, "98.32", BASELINE, "P2", False, "Launch list price (2023); recorded from 2025-01-01"),
            (
                OD,
                "55.04",
                JUNE_2025_CUT,
                "K",
                True,
                "≈ after the June 2025 cut (−44%, P3/P4); value [K]. "
                "P-family prices unsettled: read the live AWS page",
            ),
            (
                SPOT,
                "18.00",
                date(2026, 3, 1),
                "P4",
                False,
                "8 × $2.25/GPU-h, the middle of the $2.00-2.50 observed in March 2026",
            ),
        ],
    ),
    (
        "aws",
        "us-east-1",
        "p5e.48xlarge",
        "h200-sxm-141gb",
        8,
        [
            (
                OD,
                "107.00",
                date(2026, 5, 1),
                "P15",
                True,
                "No on-demand list price found; '~$107 (est.)' is an estimate",
            ),
        ],
    ),
    # Capacity Blocks are pre-paid reservations; P5 places p5e in Ohio. P6 gives the rate before and
    # after the January 2026 increase without its start date.
    (
        "aws",
        "us-east-2",
        "p5e.48xlarge",
        "h200-sxm-141gb",
        8,
        [
            (
                COMMITTED,
                "34.61",
                BASELINE,
                "P6",
                False,
                "Capacity Block rate before the Jan 2026 increase; "
                "start not stated, recorded from 2025-01-01",
            ),
            (
                COMMITTED,
                "39.80",
                date(2026, 1, 1),
                "P6",
                False,
                "Capacity Block rate after the ≈15% increase of Jan 2026",
            ),
        ],
    ),
    ("sagemaker", "us-east-1", "ml.g4dn.xlarge", "t4-16gb", 1, [(OD, "0.7364", BASELINE, "K", True, _K)]),
    (
        "sagemaker",
        "us-east-1",
        "ml.g5.xlarge",
        "a10g-24gb",
        1,
        [
            (OD, "1.41", date(2025, 10, 1), "P7", False, "'~$1.41/h', us-east-1 as of October 2025"),
            (OD, "1.21", date(2026, 3, 15), "P8", False, ""),
        ],
    ),
    ("sagemaker", "us-east-1", "ml.g6.xlarge", "l4-24gb", 1, []),
    ("sagemaker", "us-east-1", "ml.g6e.xlarge", "l40s-48gb", 1, []),
    (
        "sagemaker",
        "us-east-1",
        "ml.p4d.24xlarge",
        "a100-sxm-40gb",
        8,
        [(OD, "37.69", date(2026, 3, 15), "P8", False, "")],
    ),
    (
        "sagemaker",
        "us-east-1",
        "ml.p5.48xlarge",
        "h100-sxm-80gb",
        8,
        [(OD, "113.07", BASELINE, "K", True, "Pre-June-2025 list price [K]; post-cut price not found")],
    ),
    (
        "gcp",
        "us-central1",
        "g2-standard-4",
        "l4-24gb",
        1,
        [(OD, "0.7068", BASELINE, "K", True, _K + "; P4 (March 2026) quotes ~$0.70-0.80")],
    ),
    ("gcp", "us-central1", "a2-highgpu-1g", "a100-sxm-40gb", 1, [(OD, "3.6735", BASELINE, "K", True, _K)]),
    ("gcp", "us-central1", "a2-ultragpu-1g", "a100-sxm-80gb", 1, [(OD, "5.0688", BASELINE, "K", True, _K)]),
    (
        "gcp",
        "us-central1",
        "a3-highgpu-8g",
        "h100-sxm-80gb",
        8,
        [
            (
                OD,
                "88.49",
                BASELINE,
                "K",
                True,
                _K + "; P4 confirms $11.06/GPU-h 'months earlier' and ~$3.00 by March 2026",
            ),
            (SPOT, "18.00", date(2026, 3, 1), "P4", False, "8 × $2.25/GPU-h A3-High spot, March 2026"),
        ],
    ),
    ("gcp", "us-central1", "a3-ultragpu-8g", "h200-sxm-141gb", 8, []),
    ("azure", "eastus", "Standard_NC4as_T4_v3", "t4-16gb", 1, [(OD, "0.526", BASELINE, "K", True, _K)]),
    (
        "azure",
        "eastus",
        "Standard_NC24ads_A100_v4",
        "a100-pcie-80gb",
        1,
        [
            (OD, "3.673", BASELINE, "K", True, _K),
            (OD, "3.67", date(2026, 6, 11), "P9", False, "'$3.67/h', June 2026"),
        ],
    ),
    ("azure", "eastus", "Standard_ND96asr_v4", "a100-sxm-40gb", 8, [(OD, "27.197", BASELINE, "K", True, _K)]),
    (
        "azure",
        "eastus",
        "Standard_ND96amsr_A100_v4",
        "a100-sxm-80gb",
        8,
        [(OD, "32.77", BASELINE, "K", True, _K)],
    ),
    (
        "azure",
        "eastus",
        "Standard_NC40ads_H100_v5",
        "h100-nvl-94gb",
        1,
        [(OD, "6.98", date(2026, 3, 1), "P4", False, "")],
    ),
    (
        "azure",
        "eastus",
        "Standard_ND96isr_H100_v5",
        "h100-sxm-80gb",
        8,
        [(OD, "98.00", date(2026, 6, 11), "P9", False, "'~$98/h', June 2026")],
    ),
]

# provider, region, sku, kind, description, [(unit, USD, effective date, source key, unverified, note)]
_K2 = "Not in the reference [K2]; effective date not stated, recorded from 2025-01-01"
OTHER_ITEMS = [
    (
        "aws",
        "us-east-1",
        "s3-standard",
        "storage",
        "Amazon S3 Standard, first 50 TB",
        [("gb_month", "0.023", BASELINE, "K2", True, _K2)],
    ),
    (
        "aws",
        "us-east-1",
        "ebs-gp3",
        "storage",
        "Amazon EBS gp3 volume storage",
        [("gb_month", "0.08", BASELINE, "K2", True, _K2)],
    ),
    (
        "gcp",
        "us-central1",
        "gcs-standard",
        "storage",
        "Cloud Storage Standard, regional",
        [("gb_month", "0.020", BASELINE, "K2", True, _K2)],
    ),
    (
        "sagemaker",
        "us-east-1",
        "serverless-inference",
        "serverless",
        "SageMaker Serverless Inference (CPU, 1-6 GB memory)",
        [
            ("gb_second", "0.00002", BASELINE, "K2", True, _K2 + "; $0.0000200 per second at 1024 MB"),
            (
                "request",
                "0",
                BASELINE,
                "K2",
                True,
                "No per-request fee; data processed ($0.016/GB in and out, K2) "
                "is billed instead and not priced here",
            ),
        ],
    ),
    (
        "aws",
        "us-east-1",
        "lambda-x86",
        "serverless",
        "AWS Lambda (x86), for small CPU models",
        [
            ("gb_second", "0.0000166667", BASELINE, "K2", True, _K2),
            ("request", "0.0000002", BASELINE, "K2", True, _K2 + "; $0.20 per million requests"),
        ],
    ),
]

# On-premises examples so the TCO page has an own-hardware mode on a fresh install.
# slug, name, site, gpu slug, GPUs, hardware USD, years, kW, USD/kWh, PUE, operations USD/year, utilisation
ONPREM_PROFILES = [
    (
        "example-8x-h100",
        "Example: 8× H100 SXM server",
        "own-dc",
        "h100-sxm-80gb",
        8,
        "300000",
        4,
        "10.2",
        "0.12",
        "1.4",
        "30000",
        "0.6",
    ),
    (
        "example-4x-l40s",
        "Example: 4× L40S server",
        "own-dc",
        "l40s-48gb",
        4,
        "60000",
        4,
        "2.4",
        "0.12",
        "1.4",
        "6000",
        "0.6",
    ),
]
