"""The TCO comparison against figures worked out by hand. Every expected number below is computed
in the comments from the stated inputs and the constants of billing/tco.py (0.6 bandwidth
efficiency, 70% target utilisation, 10% runtime + 25% KV overhead, 90% usable memory, 730-hour
months of 365/12 days), never by calling the code under test."""

import pytest

from billing import tco
from deployments.sizing import size_replica

GPU = tco.Gpu(slug="g48", name="Test GPU 48GB", memory_gb=48, bandwidth_gbps=800)
SMALL = tco.InstanceOffer(
    provider="aws",
    region="r1",
    sku="c1.xlarge",
    gpu=GPU,
    gpu_count=1,
    on_demand_usd_hour=2.00,
    spot_usd_hour=0.80,
)
QUAD = tco.InstanceOffer(
    provider="gcp", region="r2", sku="c1.4xlarge", gpu=GPU, gpu_count=4, on_demand_usd_hour=7.20
)  # no spot price: the 50% fallback discount applies
MANAGED = tco.InstanceOffer(
    provider="sagemaker", region="r1", sku="ml.c1.xlarge", gpu=GPU, gpu_count=1, on_demand_usd_hour=2.80
)
SERVER = tco.HardwareTerms(
    gpus_per_server=4,
    hardware_cost_usd=40_000,
    amortisation_years=3,
    power_kw=2.0,
    usd_per_kwh=0.10,
    pue=1.5,
    operations_usd_per_year=4_380,
    expected_utilisation=0.5,
)
OWN = tco.HardwareOffer(slug="rack", name="4× g48 server", gpu=GPU, terms=SERVER)
SERVERLESS = tco.ServerlessOffer(
    provider="sagemaker", region="r1", sku="serverless", usd_per_gb_second=0.00002, usd_per_request=0.0
)
OFFERS = tco.Offers(cluster=(SMALL, QUAD), managed=(MANAGED,), hardware=(OWN,), serverless=SERVERLESS)

# The stated workload: an 8 B-parameter model in BF16, 400 generated tokens per request,
# 172,800 requests a day arriving steadily (2 per second), compared over 3 years.
WORKLOAD = tco.Workload(
    requests_per_day=172_800,
    horizon_years=3,
    traffic="steady",
    sensitivity="internal",
    params_billions=8,
    precision="bf16",
    tokens_per_request=400,
    concurrency_per_replica=8,
    spot_share=0.5,
)


def test_sizing_by_hand():
    # weights = 8e9 × 2 bytes = 16 GB; with 10% runtime and 25% KV: 16 × 1.35 = 21.6 GB,
    # which fits one 48 GB GPU (48 × 0.9 = 43.2 GB usable).
    assert tco.weight_gb(8, "bf16") == 16
    assert tco.memory_needed_gb(8, "bf16") == pytest.approx(21.6)
    assert tco.gpus_to_fit(WORKLOAD, GPU) == 1
    # decode: 800 GB/s × 1 GPU × 0.6 ÷ 16 GB = 30 tokens/s per sequence → 400 tokens take 13.333 s.
    assert tco.request_seconds(WORKLOAD, GPU, 1) == pytest.approx(400 / 30)
    # a replica serves 8 ÷ 13.333 = 0.6 requests/s, 0.42 at 70%; peak 2/s → ceil(4.76) = 5 replicas.
    assert tco.replicas_for_peak(WORKLOAD, 400 / 30) == 5


def test_int4_weights_are_the_registry_sizing_and_the_reference_table():
    # Reference §3 lists INT4 weights of 39.7 GB for R1-Distill-Llama-70B (70.55 B parameters) and
    # 18.4 GB for Qwen-32B (32.76 B): 0.5625 bytes a parameter (0.5 + scales), not 0.56 (39.5, 18.3).
    # The TCO estimate and the model page's sizing table give the same figure.
    assert round(tco.weight_gb(70.5535, "int4"), 1) == 39.7
    assert round(tco.weight_gb(32.7635, "int4"), 1) == 18.4
    weights, _, _, _ = size_replica(parameters=70_553_500_000, precision="int4")
    assert tco.weight_gb(70.5535, "int4") == pytest.approx(weights)


def test_comparison_reproduces_the_hand_computed_figures():
    result = tco.compare(WORKLOAD, OFFERS)
    assert result.months == 36

    # Kubernetes on demand. c1.xlarge: 5 instances × 24 h = 120 instance-hours a day;
    # × 365/12 days = 3,650 a month; × $2.00 = $7,300.00. (c1.4xlarge would need ceil(5/4) = 2
    # instances: 48 × 365/12 = 1,460 h × $7.20 = $10,512.00, so c1.xlarge wins.)
    on_demand = result.mode("kubernetes_on_demand")
    assert on_demand.offer == "aws c1.xlarge"
    assert on_demand.monthly_usd == pytest.approx(7_300.00)
    assert on_demand.total_usd == pytest.approx(262_800.00)  # 36 × 7,300

    # Spot mix, half the node-hours on spot. c1.xlarge: 0.5 × $0.80 + 0.5 × $2.00 = $1.40/h;
    # 3,650 h × $1.40 = $5,110.00. (c1.4xlarge: spot fallback $7.20 × 0.5 = $3.60, mix $5.40/h,
    # 1,460 h × $5.40 = $7,884.00.)
    spot = result.mode("kubernetes_spot_mix")
    assert spot.offer == "aws c1.xlarge"
    assert spot.monthly_usd == pytest.approx(5_110.00)
    assert spot.total_usd == pytest.approx(183_960.00)  # 36 × 5,110

    # Managed endpoint: 3,650 instance-hours × $2.80 = $10,220.00 a month.
    managed = result.mode("managed_endpoint")
    assert managed.monthly_usd == pytest.approx(10_220.00)
    assert managed.total_usd == pytest.approx(367_920.00)

    # Serverless: 21.6 GB does not fit the 6 GB maximum.
    serverless = result.mode("serverless")
    assert not serverless.feasible and "6 GB" in serverless.reason

    # Own hardware: 5 replicas, 4 per server → 2 servers, $80,000 paid in month 1 (the 36-month
    # amortisation ends with the horizon, so no refresh). Energy per server: 2 kW × 730 h ×
    # $0.10 × 1.5 = $219.00 a month; operations $4,380 ÷ 12 = $365.00; two servers: $1,168.00.
    own = result.mode("own_hardware")
    assert own.cumulative_usd[0] == pytest.approx(81_168.00)  # 80,000 + 1,168
    assert own.cumulative_usd[11] == pytest.approx(94_016.00)  # 80,000 + 12 × 1,168
    assert own.total_usd == pytest.approx(122_048.00)  # 80,000 + 36 × 1,168
    assert own.monthly_usd == pytest.approx(80_000 / 36 + 1_168)  # $3,390.22 amortised

    # Break-even: first month m with 80,000 + 1,168 m ≤ cost × m.
    # on demand: 80,000 ≤ 6,132 m → m ≥ 13.05 → month 14 (13: 79,716 short; 14: 85,848).
    # spot mix: 80,000 ≤ 3,942 m → m ≥ 20.29 → month 21 (20: 78,840 short; 21: 82,782).
    # managed: 80,000 ≤ 9,052 m → m ≥ 8.84 → month 9 (8: 72,416 short; 9: 81,468).
    assert on_demand.break_even_month == 14
    assert spot.break_even_month == 21
    assert managed.break_even_month == 9
    assert own.break_even_month is None

    # Own hardware is cheapest over 3 years, and the runner-up is the spot mix.
    assert result.recommended == "own_hardware"
    assert (
        result.reasons[0]
        == "Cheapest over 3 years: $122,048.00, against $183,960.00 for Kubernetes, spot mix."
    )
    assert "pays for itself against Kubernetes, spot mix in month 21" in result.reasons[1]
    assert any("30 tokens/s" in a or "bandwidth × GPUs × 60%" in a for a in result.assumptions)


def test_onprem_gpu_hour_working_by_hand():
    # Used GPU-hours: 4 GPUs × 8,760 h × 0.5 = 17,520 a year.
    # Hardware $40,000 ÷ 3 = $13,333.33 a year → $0.761035 per GPU-hour.
    # Energy 2 kW × 8,760 h × $0.10 × 1.5 = $2,628.00 → $0.150000.
    # Operations $4,380.00 → $0.250000. Sum $20,341.33 a year → $1.161035 per GPU-hour.
    working = tco.onprem_gpu_hour(SERVER)
    assert working.used_gpu_hours_per_year == pytest.approx(17_520)
    assert [round(t.usd_per_year, 2) for t in working.terms] == [13_333.33, 2_628.00, 4_380.00]
    assert [round(t.usd_per_gpu_hour, 6) for t in working.terms] == [0.761035, 0.15, 0.25]
    assert working.usd_per_gpu_hour == pytest.approx(1.161035, abs=1e-6)
    assert working.terms[1].formula == "2 kW × 8,760 h × $0.1/kWh × PUE 1.5"


def test_bursty_low_volume_small_model_goes_serverless():
    # 0.5 B params in BF16: 1 GB of weights, 1.35 GB needed → a 2 GB serverless endpoint.
    # 0.5 s × 2 GB × $0.00002 = $0.00002 per request; 2,000 a day × 365/12 days → $1.22 a month.
    w = tco.Workload(
        requests_per_day=2_000,
        horizon_years=1,
        traffic="bursty",
        busy_hours_per_day=4,
        params_billions=0.5,
        latency_s=0.5,
    )
    result = tco.compare(w, OFFERS)
    serverless = result.mode("serverless")
    assert serverless.monthly_usd == pytest.approx(2_000 * 365 / 12 * 0.00002)
    # Kubernetes keeps one warm replica: 4 busy hours × 1 + 20 idle hours × 1 = 24 instance-hours.
    assert result.mode("kubernetes_on_demand").monthly_usd == pytest.approx(24 * 365 / 12 * 2.00)
    assert result.recommended == "serverless"
    assert any(r.startswith("Bursty traffic of 2,000 requests a day") for r in result.reasons)


def test_confidential_data_stays_on_own_hardware_even_when_dearer():
    w = tco.Workload(
        requests_per_day=2_000,
        horizon_years=1,
        traffic="bursty",
        busy_hours_per_day=4,
        params_billions=0.5,
        latency_s=0.5,
        sensitivity="confidential",
    )
    result = tco.compare(w, OFFERS)
    assert result.recommended == "own_hardware"
    assert "confidential" in result.reasons[0]
    assert "hybrid" in result.reasons[1]


def test_a_gpu_requirement_rules_out_serverless_and_other_gpus():
    other = tco.Gpu(slug="g24", name="Test GPU 24GB", memory_gb=24, bandwidth_gbps=300)
    cheap = tco.InstanceOffer(
        provider="aws", region="r1", sku="cheap", gpu=other, gpu_count=1, on_demand_usd_hour=0.1
    )
    w = tco.Workload(requests_per_day=10_000, horizon_years=2, gpu_type="g48", gpu_count=1, latency_s=1.0)
    result = tco.compare(w, tco.Offers(cluster=(cheap, SMALL), serverless=SERVERLESS))
    assert result.mode("kubernetes_on_demand").offer == "aws c1.xlarge"
    assert not result.mode("serverless").feasible
    assert not result.mode("own_hardware").feasible


def test_a_model_too_large_for_any_offer_has_no_recommendation():
    w = tco.Workload(requests_per_day=100, horizon_years=1, params_billions=2_000, tokens_per_request=10)
    result = tco.compare(w, OFFERS)
    assert result.recommended is None
    assert all(not m.feasible for m in result.modes)


@pytest.mark.parametrize(
    "changes,field",
    [
        ({"horizon_years": 6}, "horizon_years"),
        ({"requests_per_day": 0}, "requests_per_day"),
        ({"params_billions": None}, "params_billions"),
        ({"latency_s": 1.0}, "tokens_per_request"),
        ({"traffic": "bursty", "busy_hours_per_day": 24}, "busy_hours_per_day"),
        ({"gpu_count": 3}, "gpu_count"),
        ({"spot_share": 1.5}, "spot_share"),
        ({"precision": "fp4"}, "precision"),
        ({"traffic": "chaotic"}, "traffic"),
    ],
)
def test_invalid_workloads_name_the_field(changes, field):
    import dataclasses

    with pytest.raises(tco.WorkloadError) as exc:
        tco.compare(dataclasses.replace(WORKLOAD, **changes), OFFERS)
    assert exc.value.field == field
