"""1. The timed refresh of the Replicas table: HTTP calls per tick and server-side time per tick.

Per account size (100, 1,000, 10,000 user replicas, 20 of them training) the server's shared list
(`SharedReplicas`, lib/replicas/shared.py) is loaded once, then ticked. One tick sample is what the
server does for one refresh interval with one tab open, Streamlit calls aside: the ticker's tick
(`tick_if_due(services.live)`: the Tavus calls and a new view) and the tab's repaint from that
view (the status counts, `items_frame`, `filter_frame` and the row-order digest that keys the
table widget). Every further tab repaints from the same view without a call. The naive tick
does the same table work after re-listing every page (`list_all_replicas`, 100 a page, the
client's default). Ticks and naive ticks alternate, so both see the same machine state.
"""

from __future__ import annotations

import hashlib
import time

from bench.common import TAVUS_KEY, Ratio, Section, Simulator, Stat, Target, gc_collected

SIZES = (100, 1_000, 10_000)
TRAINING = 20
TICKS = 7
TARGET_CALLS = 2
TARGET_TICK_MS = 25.0


def build_table(items, states, messages, ids=None, created=None):
    """The non-Streamlit work of one run of the page's `live_table` fragment."""
    from lib.replicas.table import filter_frame, items_frame, status_counts

    counts = status_counts(states)
    table = filter_frame(items_frame(items, states=states, ids=ids, created=created, ledger={},
                                     error_messages=messages, photos={}),
                         search="", statuses=[], models=[])
    ids = table["replica_id"].tolist()  # list() would walk the Arrow column: 15x slower
    hashlib.sha256("|".join(ids).encode()).hexdigest()
    return table, counts


def run(sim: Simulator, *, ticks: int = TICKS) -> Section:
    from streamlit.dataframe_util import convert_pandas_df_to_arrow_bytes

    from lib.replicas.shared import SharedReplicas
    from lib.replicas.table import sort_items
    from lib.services import live_timeout
    from lib.tavus.client import TavusClient, replica_status

    section = Section("tick", "1. Refresh tick (server side, per table refresh)")
    print(f"\n{section.title}", flush=True)
    tavus = TavusClient(sim.url, TAVUS_KEY)
    live = TavusClient(sim.url, TAVUS_KEY, timeout=live_timeout(15), max_retries=0)
    worst_calls = 0
    for n in SIZES:
        sim.add(n - sim.count, training=TRAINING if sim.count == 0 else 0)
        clock = [0.0]  # the ticker's clock, moved one interval per sample: every tick is due
        shared = SharedReplicas(messages={}, monotonic=lambda clock=clock: clock[0],
                                reconcile_seconds=float("inf"))  # ticks only, no reloads
        shared.reload_now(tavus)
        view = shared.view()
        if view.count != n or len(view.training_ids) != TRAINING:
            raise RuntimeError(f"account holds {view.count} replicas "
                               f"({len(view.training_ids)} training), expected {n} ({TRAINING})")
        http, total, naive, calls, naive_calls, arrow = (Stat(), Stat(), Stat(), [], [], Stat())
        for _ in range(ticks):
            sim.reset_requests()
            with gc_collected():
                clock[0] += 60
                start = time.perf_counter()
                report = shared.tick_if_due(live)
                ticked = time.perf_counter()
                view = shared.view()
                table, _ = build_table(view.items, view.states, view.messages, view.ids,
                                       view.created)
                end = time.perf_counter()
            seen = len(sim.requests())
            if seen != report.calls:
                raise RuntimeError(f"the simulator saw {seen} calls, the tracker says "
                                   f"{report.calls}")
            if report is None or report.full_reload or report.error is not None:
                raise RuntimeError(f"tick did a full reload or failed: {report}")
            calls.append(seen)
            http.add((ticked - start) * 1000)
            total.add((end - start) * 1000)

            sim.reset_requests()
            with gc_collected():
                start = time.perf_counter()
                replicas = tavus.list_all_replicas(page_size=100, replica_type="user")
                items = sort_items(r.raw for r in replicas)
                build_table(items, [replica_status(d) for d in items], {})
                naive.add((time.perf_counter() - start) * 1000)
            naive_calls.append(len(sim.requests()))
            start = time.perf_counter()
            convert_pandas_df_to_arrow_bytes(table)
            arrow.add((time.perf_counter() - start) * 1000)
        ratio = Ratio(naive, total)
        worst_calls = max(worst_calls, *calls)
        section.row(f"{n:>6,} replicas: calls per tick",
                    f"{max(calls)} (naive: {max(naive_calls)})")
        section.row(f"{n:>6,} replicas: tick, total server side", total.fmt())
        section.row(f"{n:>6,}   of which the 2 Tavus calls", http.fmt())
        section.row(f"{n:>6,} replicas: naive tick (re-list every page)", naive.fmt())
        section.row(f"{n:>6,} replicas: naive / tick", ratio.fmt())
        section.row(f"{n:>6,}   (info) Streamlit's Arrow encoding of the table", arrow.fmt())
        section.figures[str(n)] = {
            "calls_per_tick": calls, "naive_calls_per_tick": naive_calls,
            "tick_ms": total.to_json(), "tick_http_ms": http.to_json(),
            "naive_ms": naive.to_json(), "naive_over_tick": ratio.to_json(),
            "arrow_encode_ms": arrow.to_json(),
        }
        if n == SIZES[-1]:
            section.target(Target("tick_ms_10k", "Tick at 10,000 replicas (server side)",
                                  total.median, TARGET_TICK_MS, "ms",
                                  f"naive {naive.median:.0f} ms, {ratio.value:.1f}× the tick"))
    section.target(Target("tick_calls", "HTTP calls per tick, worst of all sizes", worst_calls,
                          TARGET_CALLS, "calls", "counted in the simulator's request log"))
    tavus.close()
    live.close()
    return section
