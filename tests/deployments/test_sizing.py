"""Sizing against two published configs, with every expectation worked by hand in the comments
(reference: ../shared/reference/gpu-catalog.md §3)."""

import pytest

from deployments.inspection.huggingface import architecture_facts
from deployments.sizing import GpuOffer, cheapest_fit, kv_cache_bytes, size_replica, sizing_table

# config.json of deepseek-ai/DeepSeek-R1-Distill-Qwen-7B (reference source D1)
QWEN_7B = {
    "architectures": ["Qwen2ForCausalLM"],
    "attention_dropout": 0.0,
    "bos_token_id": 151643,
    "eos_token_id": 151643,
    "hidden_act": "silu",
    "hidden_size": 3584,
    "initializer_range": 0.02,
    "intermediate_size": 18944,
    "max_position_embeddings": 131072,
    "max_window_layers": 28,
    "model_type": "qwen2",
    "num_attention_heads": 28,
    "num_hidden_layers": 28,
    "num_key_value_heads": 4,
    "rms_norm_eps": 1e-06,
    "rope_theta": 10000,
    "sliding_window": 4096,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
    "use_cache": True,
    "use_mrope": False,
    "use_sliding_window": False,
    "vocab_size": 152064,
}
# config.json of deepseek-ai/DeepSeek-R1-Distill-Llama-70B (reference source D1)
LLAMA_70B = {
    "architectures": ["LlamaForCausalLM"],
    "attention_bias": False,
    "attention_dropout": 0.0,
    "bos_token_id": 128000,
    "eos_token_id": 128001,
    "hidden_act": "silu",
    "hidden_size": 8192,
    "initializer_range": 0.02,
    "intermediate_size": 28672,
    "max_position_embeddings": 131072,
    "mlp_bias": False,
    "model_type": "llama",
    "num_attention_heads": 64,
    "num_hidden_layers": 80,
    "num_key_value_heads": 8,
    "pretraining_tp": 1,
    "rms_norm_eps": 1e-05,
    "rope_scaling": {
        "factor": 8.0,
        "high_freq_factor": 4.0,
        "low_freq_factor": 1.0,
        "original_max_position_embeddings": 8192,
        "rope_type": "llama3",
    },
    "rope_theta": 500000.0,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
    "use_cache": True,
    "vocab_size": 128256,
}

# USD per GPU-hour from the reference's §2 (AWS us-east-1, $/GPU-h column).
OFFERS = [
    GpuOffer("t4", "T4", 16, 0.526, supports_fp8=False),
    GpuOffer("l4", "L4", 24, 0.805),
    GpuOffer("a10g", "A10G", 24, 1.006, supports_fp8=False),
    GpuOffer("l40s", "L40S", 48, 1.861),
    GpuOffer("a100-80", "A100 80GB", 80, 3.43, supports_fp8=False),
    GpuOffer("h100", "H100 80GB", 80, 6.88),
    GpuOffer("h200", "H200 141GB", 141, 13.4),
]


def facts(config):
    f = architecture_facts(config, config)
    f["parameter_count"] = f["config_parameter_estimate"]
    return f


def test_parameter_counts_from_config():
    # Qwen-7B: embeddings 152064·3584 = 544,997,376, the same again for the untied LM head.
    # Per layer: q 3584·3584 + k,v 2·3584·512 + o 3584·3584 = 29,360,128; q/k/v biases 3584 + 2·512 = 4,608;
    # MLP 3·3584·18944 = 203,685,888; two norms 7,168 → 233,057,792; ×28 = 6,525,618,176.
    # Total 6,525,618,176 + 1,089,994,752 + final norm 3,584 = 7,615,616,512 (the reference's 7.62 B).
    assert facts(QWEN_7B)["parameter_count"] == 7_615_616_512
    # Llama-70B: embeddings 128256·8192 = 1,050,673,152 (×2 untied). Per layer: q,o 2·8192² + k,v 2·8192·1024
    # = 150,994,944; MLP 3·8192·28672 = 704,643,072; norms 16,384 → 855,654,400; ×80 = 68,452,352,000.
    # Total 68,452,352,000 + 2,101,346,304 + 8,192 = 70,553,706,496 (the reference's 70.55 B).
    assert facts(LLAMA_70B)["parameter_count"] == 70_553_706_496


def test_kv_cache_per_token_matches_the_reference():
    # Qwen-7B: 2·28·4·128·2 B = 57,344 B = 56 KiB; Llama-70B: 2·80·8·128·2 = 327,680 B = 320 KiB.
    assert kv_cache_bytes(layers=28, kv_heads=4, head_dim=128, tokens=1) == 56 * 1024
    assert kv_cache_bytes(layers=80, kv_heads=8, head_dim=128, tokens=1) == 320 * 1024
    # 32K tokens: 56 KiB·32768 = 1.75 GiB and 320 KiB·32768 = 10 GiB.
    assert kv_cache_bytes(layers=80, kv_heads=8, head_dim=128, tokens=32768) == 10 * 1024**3


def test_bf16_weights_are_two_bytes_a_parameter():
    # 7,615,616,512 · 2 B = 15.23 GB ("a 7B model needs about 14 GB", plus its 0.6 B extra parameters).
    weights, kv, _, _ = size_replica(parameters=7_615_616_512, precision="bf16")
    assert weights == pytest.approx(15.231, abs=0.001) and kv == 0
    weights, _, _, _ = size_replica(parameters=7_000_000_000, precision="bf16")
    assert weights == pytest.approx(14.0)


@pytest.mark.parametrize(
    "config,precision,total_gb,gpu,count,usd",
    [
        # 64K resident tokens, as the reference's "smallest GPU set" table.
        # Qwen-7B BF16: (15.231 + 57,344·65,536 B = 3.758 GB) · 1.1 = 20.89 GB
        # → one L4 (24·0.9 = 21.6 GB), $0.805/h.
        (QWEN_7B, "bf16", 20.89, "l4", 1, 0.805),
        # Qwen-7B FP8: (7.616 + 3.758) · 1.1 = 12.51 GB; a T4 has room but no FP8 → one L4.
        (QWEN_7B, "fp8", 12.51, "l4", 1, 0.805),
        # Qwen-7B INT4: (7,615,616,512 · 0.5625 = 4.284 + 3.758) · 1.1 = 8.85 GB → one T4, $0.526/h.
        (QWEN_7B, "int4", 8.85, "t4", 1, 0.526),
        # Llama-70B BF16: (141.107 + 327,680·65,536 B = 21.475) · 1.1 = 178.84 GB. Fits: 8× L40S $14.89,
        # 4× A100-80 (288 GB) $13.72, 2× H200 $26.80, 4× H100 $27.52 → 4× A100-80.
        (LLAMA_70B, "bf16", 178.84, "a100-80", 4, 13.72),
        # Llama-70B INT4: (39.686 + 21.475) · 1.1 = 67.28 GB. Fits: one A100-80 (72 GB) $3.43, one H100 $6.88,
        # 2× L40S (86.4 GB) $3.722, 4× L4 (86.4 GB; 64 heads divide by 4) $3.22 → 4× L4.
        (LLAMA_70B, "int4", 67.28, "l4", 4, 3.22),
    ],
)
def test_cheapest_gpu_that_fits(config, precision, total_gb, gpu, count, usd):
    rows = {r.precision: r for r in sizing_table(facts(config), OFFERS, context=65536, concurrency=1)}
    row = rows[precision]
    assert row.total_gb == pytest.approx(total_gb, abs=0.01)
    assert (row.cheapest.gpu.slug, row.cheapest.count) == (gpu, count)
    assert row.cheapest.usd_per_hour == pytest.approx(usd)


def test_tensor_parallel_must_divide_the_heads():
    # Qwen-7B has 28 heads: 8-way tensor parallelism is invalid (28 % 8 ≠ 0), so 100 GB on L4s
    # (4× = 86.4 GB usable) has no fit at all.
    assert cheapest_fit(100, [OFFERS[1]], precision="bf16", attention_heads=28) is None
    assert cheapest_fit(100, [OFFERS[1]], precision="bf16", attention_heads=32).count == 8


def test_without_prices_the_smallest_memory_wins():
    offers = [GpuOffer("big", "Big", 141), GpuOffer("small", "Small", 24)]
    fit = cheapest_fit(20, offers, precision="bf16")
    assert (fit.gpu.slug, fit.count, fit.usd_per_hour) == ("small", 1, None)
