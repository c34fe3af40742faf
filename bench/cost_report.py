"""Monthly per-team cost report on 10 million hourly ledger rows in PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cp_bench PYTHONPATH=. python bench/cost_report.py \
        [--rows 10000000] [--teams 200] [--repeat 5]

Builds a fresh database (drops it first), migrates it, and COPYs a year of hourly CostEntry rows
for many teams and deployments (indexes dropped during the load and rebuilt after, as a bulk
load should). Then, for one month in the middle of the year, it times:

- the report as the product runs it: `billing.selectors.costs.cost_by_team_month` (ORM, joins
  team and deployment for names, groups by team, cost centre, deployment and category), and
  `cost_by_team_totals` (per team and category);
- the baseline: a hand-written `SELECT team_id, category, SUM(usd) ... GROUP BY` over the
  same rows.

Each is run --repeat times after one warm-up; the median is reported with the ratio to the
baseline (goal ≤ 2).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def recreate_database(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--teams", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit("Set DATABASE_URL to a PostgreSQL database this script may drop and recreate.")
    recreate_database(url)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings.base")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)

    from billing.models import CatalogItem, GpuType, Price
    from billing.selectors.costs import CostScope, cost_by_team_month, cost_by_team_totals
    from controlplane.tenancy.models import Team
    from deployments.models import Deployment, Target

    hours = 365 * 24
    deployments_n = -(-args.rows // hours)  # ceil: rows = hours × deployments
    year = datetime(2025, 1, 1, tzinfo=UTC)
    gpu = GpuType.objects.create(
        slug="g48",
        name="g48",
        memory_gb=48,
        bandwidth_gbps=800,
        relative_speed="0.239",
        source_key="BENCH",
        source="bench",
    )
    item = CatalogItem.objects.create(
        provider="aws", region="r1", sku="c1.xlarge", kind="instance", gpu_type=gpu, gpu_count=1
    )
    price = Price.objects.create(
        item=item, unit="instance_hour", usd="2.00", effective_from=year, source_key="BENCH", source="bench"
    )
    target = Target.objects.create(name="bench", kind="kubernetes", gpu_inventory={"g48": 100000})
    teams = Team.objects.bulk_create(
        [
            Team(slug=f"team-{i:04d}", name=f"Team {i}", cost_centre=f"CC-{i % 17:03d}")
            for i in range(args.teams)
        ]
    )
    deployments = Deployment.objects.bulk_create(
        [
            Deployment(team=teams[i % len(teams)], name=f"d{i:05d}", target=target, status="ready")
            for i in range(deployments_n)
        ]
    )
    categories = ("gpu_compute", "gpu_compute", "gpu_compute", "requests", "network")

    with connection.cursor() as cur:
        cur.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'billing_costentry' "
            "AND indexname NOT LIKE '%%_pkey'"
        )
        indexes = cur.fetchall()
        for name, _ in indexes:
            cur.execute(f'DROP INDEX "{name}"')

    # Each deployment's constant part of a row; the hour varies. usd = GPU-seconds × $2/3600.
    suffixes = []
    for i, d in enumerate(deployments):
        gpu_seconds = 3600 * (1 + i % 4)
        usd = gpu_seconds * 2 / 3600
        suffixes.append(
            f"\t{d.team_id}\t{d.pk}\t{target.pk}\t\\N\t{categories[i % len(categories)]}\t{price.pk}"
            f"\t{gpu_seconds}\t0.000555555556\t{usd:.10f}\n"
        )
    started = time.perf_counter()
    written = 0
    raw = connection.connection  # the psycopg connection under Django's
    with raw.cursor() as cur:
        cur.execute("SET session_replication_role = replica")  # skip FK triggers for the bulk load
        with cur.copy(
            "COPY billing_costentry (hour, team_id, deployment_id, target_id, usage_record_id, category,"
            " price_id, quantity, rate_usd, usd) FROM STDIN"
        ) as copy:
            for h in range(hours):
                stamp = (year + timedelta(hours=h)).strftime("%Y-%m-%d %H:00:00+00")
                take = suffixes if written + len(suffixes) <= args.rows else suffixes[: args.rows - written]
                copy.write("".join(stamp + s for s in take))
                written += len(take)
                if written >= args.rows:
                    break
        cur.execute("SET session_replication_role = DEFAULT")
    raw.commit()
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    with connection.cursor() as cur:
        for _, definition in indexes:
            cur.execute(definition)
        cur.execute("ANALYZE billing_costentry")
    index_s = time.perf_counter() - started
    print(
        f"loaded {written:,} hourly rows ({len(teams)} teams, {len(deployments):,} deployments, "
        f"{hours:,} hours) "
        f"by COPY in {load_s:.1f} s; indexes + ANALYZE {index_s:.1f} s"
    )

    month = date(2025, 6, 1)
    scope = CostScope(True, frozenset())
    sql = (
        "SELECT team_id, category, SUM(usd) FROM billing_costentry WHERE hour >= %s AND hour < %s "
        "GROUP BY team_id, category ORDER BY team_id, category"
    )

    sql_deployments = (
        "SELECT team_id, deployment_id, category, SUM(usd) FROM billing_costentry "
        "WHERE hour >= %s AND hour < %s GROUP BY team_id, deployment_id, category"
    )
    june = [datetime(2025, 6, 1, tzinfo=UTC), datetime(2025, 7, 1, tzinfo=UTC)]

    def hand_sql():
        with connection.cursor() as cur:
            cur.execute(sql, june)
            return cur.fetchall()

    def hand_sql_deployments():
        with connection.cursor() as cur:
            cur.execute(sql_deployments, june)
            return cur.fetchall()

    def timed(fn):
        fn()  # warm-up
        runs = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            result = fn()
            runs.append(time.perf_counter() - t)
        return statistics.median(runs), result

    base_s, base_rows = timed(hand_sql)
    base_d_s, base_d_rows = timed(hand_sql_deployments)
    totals_s, totals_rows = timed(lambda: cost_by_team_totals(scope=scope, month=month))
    report_s, report_rows = timed(lambda: cost_by_team_month(scope=scope, month=month))
    assert (
        sum(r[2] for r in base_rows)
        == sum(r["usd"] for r in totals_rows)
        == sum(r["usd"] for r in report_rows)
    )
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM billing_costentry WHERE hour >= %s AND hour < %s",
            [datetime(2025, 6, 1, tzinfo=UTC), datetime(2025, 7, 1, tzinfo=UTC)],
        )
        month_rows = cur.fetchone()[0]
    print(f"month 2025-06: {month_rows:,} rows, total ${sum(r[2] for r in base_rows):,.2f}")
    print(
        f"baseline hand-written SQL GROUP BY team, category: {base_s * 1000:8.1f} ms ({len(base_rows)} rows)"
    )
    print(
        f"cost_by_team_totals (ORM, team × category):       {totals_s * 1000:8.1f} ms  "
        f"ratio {totals_s / base_s:.2f}"
    )
    print(
        f"baseline hand-written SQL GROUP BY team, deployment, category: {base_d_s * 1000:8.1f} ms "
        f"({len(base_d_rows)} rows)"
    )
    print(
        f"cost_by_team_month (the report: + team and deployment names): {report_s * 1000:8.1f} ms "
        f"({len(report_rows)} rows)  ratio {report_s / base_d_s:.2f}"
    )
    worst = max(totals_s / base_s, report_s / base_d_s)
    print(f"goal ≤ 2: {'met' if worst <= 2 else 'NOT met'} (worst ratio {worst:.2f})")


if __name__ == "__main__":
    main()
