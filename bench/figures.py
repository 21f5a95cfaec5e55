"""The figures of the benchmark table, each measured beside its baseline in the same run."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench import fleet, pki
from bench.harness import Command, Series, measure, milliseconds, peak_rss_mb

MANY = 100  # clusters in the scaling figure, directories in the many-directories figure


@dataclass
class Row:
    figure: str
    ours: str
    baseline: str = "—"
    ratio: str = "—"
    goal: str = "—"
    met: bool | None = None
    note: str = ""
    data: dict[str, float | int | str] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        return "—" if self.met is None else ("yes" if self.met else "**no**")


@dataclass
class Context:
    workspace: Path
    cli: list[str]  # how to run istio-vault-ca
    env: dict[str, str]
    runs: int
    openssl: str | None
    progress: Callable[[str], None]
    series: dict[str, Series] = field(default_factory=dict)
    memory: dict[str, float | None] = field(default_factory=dict)

    def command(self, args: Sequence[str], *, ok: tuple[int, ...] = (0,), label: str = "") -> Command:
        return Command([*self.cli, *args], self.env, self.workspace, ok_codes=ok, label=label)

    def python_pass(self) -> Command:
        return Command([sys.executable, "-c", "pass"], self.env, self.workspace, label="python -c pass")

    def peak(self, key: str, command: Command) -> None:
        """Peak RSS of `command`, measured in runs of its own (see harness.peak_rss_mb)."""
        self.progress(f"peak memory of {command.describe()}")
        self.memory[key] = peak_rss_mb(command)

    def measure(self, key: str, commands: Sequence[Command], *, runs: int | None = None) -> list[Series]:
        self.progress(f"measuring {key}: " + " vs ".join(c.describe() for c in commands))
        series = measure(commands, runs=runs or self.runs)
        for index, entry in enumerate(series):
            self.series[f"{key}[{index}]"] = entry
        return series


def _ratio(ours: float, baseline: float) -> str:
    return f"{ours / baseline:.2f}x" if baseline > 0 else "—"


def help_figure(ctx: Context) -> list[Row]:
    ours, base = ctx.measure("help", [ctx.command(["--help"]), ctx.python_pass()])
    return [
        Row(
            "`istio-vault-ca --help`",
            milliseconds(ours.median),
            f"`python -c pass` {milliseconds(base.median)}",
            _ratio(ours.median, base.median),
            "≤ 150 ms",
            ours.median <= 0.150,
            data={"ours_s": ours.median, "baseline_s": base.median},
        )
    ]


def render_figure(ctx: Context) -> list[Row]:
    out = ctx.workspace / "out-default"
    render = ctx.command(["render", "-o", str(out)])
    cold = Command(
        render.argv, dict(ctx.env, ISTIO_VAULT_CA_NO_CACHE="1"), ctx.workspace, label="render, templates compiled"
    )
    ours, base, compiled = ctx.measure("render", [render, ctx.python_pass(), cold])
    ctx.peak("render", render)
    return [
        Row(
            "`render` of the default config",
            milliseconds(ours.median),
            f"`python -c pass` {milliseconds(base.median)}",
            _ratio(ours.median, base.median),
            "≤ 400 ms",
            ours.median <= 0.400,
            data={"ours_s": ours.median, "baseline_s": base.median},
        ),
        Row(
            "  same, compiling the templates (first run; `ISTIO_VAULT_CA_NO_CACHE=1`)",
            milliseconds(compiled.median),
            f"`python -c pass` {milliseconds(base.median)}",
            _ratio(compiled.median, base.median),
            data={"ours_s": compiled.median},
        ),
    ]


def render_fleet_figure(ctx: Context) -> list[Row]:
    configs = {}
    for clusters in (1, MANY):
        path = ctx.workspace / f"fleet-{clusters}.yaml"
        path.write_text(fleet.fleet_config(clusters), encoding="utf-8")
        configs[clusters] = path
    fleet_render = ctx.command(["render", "-c", str(configs[MANY]), "-o", str(ctx.workspace / "out-fleet")])
    many, one = ctx.measure(
        "render-fleet",
        [fleet_render, ctx.command(["render", "-c", str(configs[1]), "-o", str(ctx.workspace / "out-one")])],
        runs=max(3, ctx.runs - 2),
    )
    ctx.peak("render-fleet", fleet_render)
    ratio = many.median / one.median
    return [
        Row(
            f"`render` of a {MANY}-cluster config",
            milliseconds(many.median),
            f"`render` of 1 cluster {milliseconds(one.median)}",
            f"{ratio:.2f}x",
            "≤ 10x",
            ratio <= 10,
            data={"ours_s": many.median, "baseline_s": one.median},
        )
    ]


def _openssl_verify(openssl: str, directory: Path) -> list[str]:
    return [
        openssl,
        "verify",
        "-CAfile",
        str(directory / "root-cert.pem"),
        "-untrusted",
        str(directory / "cert-chain.pem"),
        str(directory / "ca-cert.pem"),
    ]


def chain_figures(ctx: Context) -> list[Row]:
    ctx.progress(f"making an RSA-4096 root and {MANY} RSA-4096 intermediates with cryptography")
    (bundle,) = pki.write_bundles(ctx.workspace / "ca" / "single", 1)
    directories = pki.write_bundles(ctx.workspace / "ca" / "many", MANY)
    # verify exits 1 when a check fails; the bundle is good, so 0 is the only answer accepted.
    ours_cmd = ctx.command(["verify", "chain", str(bundle)])
    many_cmd = ctx.command(["verify", "chain", *map(str, directories)], label=f"verify chain DIR1..DIR{MANY}")
    ctx.peak("chain", ours_cmd)
    ctx.peak("chain-many", many_cmd)
    # The floor no verifier written in Python with cryptography can go under: starting Python and importing it.
    floor_cmd = Command(
        [sys.executable, "-c", "import cryptography.x509"],
        ctx.env,
        ctx.workspace,
        label="python -c 'import cryptography.x509'",
    )
    # The floor of a verifier that signs its test leaf with ca-key.pem (RSA-4096 here): the import floor, reading
    # the key and one signature (bench/leaf_floor.py). What `verify chain` spends above it is its own work.
    leaf_cmd = Command(
        [sys.executable, str(Path(__file__).with_name("leaf_floor.py")), str(bundle)],
        ctx.env,
        ctx.workspace,
        label="python bench/leaf_floor.py DIR",
    )
    # Three commands of ~0.15 s each: three times the runs cost seconds and steady the medians on a shared host.
    ours_floor, floor, leaf_floor = ctx.measure("chain-floor", [ours_cmd, floor_cmd, leaf_cmd], runs=3 * ctx.runs)
    floor_ratio = ours_floor.median / floor.median
    leaf_ratio = leaf_floor.median / floor.median
    rows: list[Row] = [
        Row(
            "`verify chain DIR` against the import floor",
            milliseconds(ours_floor.median),
            f"`python -c 'import cryptography.x509'` {milliseconds(floor.median)}",
            f"{floor_ratio:.2f}x",
            "≤ 1.3x",
            floor_ratio <= 1.3,
            note=f"medians of {3 * ctx.runs} runs, each command's run interleaved with the other two's",
            data={"ours_s": ours_floor.median, "baseline_s": floor.median},
        ),
        Row(
            "  the least a verifier signing the test leaf can do (import, read the key, sign; no checks)",
            milliseconds(leaf_floor.median),
            f"`python -c 'import cryptography.x509'` {milliseconds(floor.median)}",
            f"{leaf_ratio:.2f}x",
            data={"ours_s": leaf_floor.median, "baseline_s": floor.median},
        ),
    ]
    if ctx.openssl is None:
        (ours,) = ctx.measure("chain", [ours_cmd])
        (many,) = ctx.measure("chain-many", [many_cmd], runs=max(3, ctx.runs - 2))
        rows.append(Row("`verify chain DIR`", milliseconds(ours.median), "openssl missing", goal="≤ 4x openssl"))
        rows.append(Row(f"`verify chain DIR1 … DIR{MANY}`", milliseconds(many.median), "openssl missing", goal="< 1x"))
    else:
        openssl_cmd = Command(_openssl_verify(ctx.openssl, bundle), ctx.env, ctx.workspace, label="openssl verify")
        ours, base = ctx.measure("chain", [ours_cmd, openssl_cmd])
        loop = "\n".join(map(os.fspath, directories))
        script = (
            'while IFS= read -r d; do "$0" verify -CAfile "$d/root-cert.pem" -untrusted "$d/cert-chain.pem" '
            '"$d/ca-cert.pem" >/dev/null || exit 1; done'
        )
        loop_cmd = Command(
            ["bash", "-c", script, ctx.openssl],
            ctx.env,
            ctx.workspace,
            stdin=(loop + "\n").encode(),
            label=f"{MANY} openssl verify processes",
        )
        many, base_many = ctx.measure("chain-many", [many_cmd, loop_cmd], runs=max(3, ctx.runs - 2))
        ratio = ours.median / base.median
        rows.append(
            Row(
                "`verify chain DIR`",
                milliseconds(ours.median),
                f"`openssl verify` {milliseconds(base.median)}",
                f"{ratio:.2f}x",
                "≤ 4x openssl",
                ratio <= 4,
                data={"ours_s": ours.median, "baseline_s": base.median},
            )
        )
        ratio_many = many.median / base_many.median
        rows.append(
            Row(
                f"`verify chain DIR1 … DIR{MANY}` (one command, a worker per core)",
                milliseconds(many.median),
                f"{MANY} `openssl verify` processes {milliseconds(base_many.median)}",
                f"{ratio_many:.2f}x",
                "< 1x",
                ratio_many < 1,
                data={"ours_s": many.median, "baseline_s": base_many.median},
            )
        )
    return rows


def vault_figure(ctx: Context) -> list[Row]:
    from bench.vault import configured_openbao, loop_script, record_requests
    from istio_vault_ca.generator.errors import OpenBaoMissing
    from istio_vault_ca.verify.rehearsal.openbao import find_bao

    try:
        find_bao()
    except OpenBaoMissing as error:
        return [Row("`verify vault`", "skipped", note=str(error), goal="< 1x, ≤ 30 requests")]
    ctx.progress("starting OpenBao and running the rendered vault/setup.sh")
    with configured_openbao(ctx.workspace / "vault", ctx.cli, ctx.env) as vault:
        requests, connections, code = record_requests(ctx.cli, vault, ctx.workspace)
        if code not in (0, 1):
            raise RuntimeError(f"verify vault exited {code} against the dev server")
        script = ctx.workspace / "vault" / "vault-read-loop.sh"
        script.write_text(loop_script(requests), encoding="utf-8")
        check = subprocess.run(["bash", str(script)], env=vault.env, capture_output=True, text=True, check=False)
        failed_calls = int(check.stdout.strip() or 0)
        ours_cmd = Command([*ctx.cli, "verify", "vault"], vault.env, ctx.workspace, ok_codes=(0, 1))
        loop_cmd = Command(
            ["bash", str(script)], vault.env, ctx.workspace, label=f"{len(requests)} vault CLI calls in a loop"
        )
        ours, base = ctx.measure("vault", [ours_cmd, loop_cmd])
    ratio = ours.median / base.median
    note = f"verify exit {code}; {failed_calls} of the CLI calls failed (replayed one-time tokens)"
    return [
        Row(
            f"`verify vault` ({len(requests)} HTTP requests, {connections} connection(s))",
            milliseconds(ours.median),
            f"the same {len(requests)} requests as `vault` CLI calls in a shell loop {milliseconds(base.median)}",
            f"{ratio:.2f}x",
            "< 1x; ≤ 30 requests",
            ratio < 1 and len(requests) <= 30,
            note=note,
            data={
                "ours_s": ours.median,
                "baseline_s": base.median,
                "requests": len(requests),
                "connections": connections,
                "failed_cli_calls": failed_calls,
            },
        )
    ]


def verify_fleet_figure(ctx: Context) -> list[Row]:
    """`verify fleet` of MANY clusters against 1, both against one OpenBao holding the MANY-cluster fleet: one
    client and a pool of reads must keep the ratio well under the number of clusters."""
    from bench.fleet_vault import fleet_openbao
    from bench.proxy import recording_proxy
    from istio_vault_ca.generator.errors import OpenBaoMissing
    from istio_vault_ca.verify.rehearsal.openbao import find_bao

    figure = f"`verify fleet` of {MANY} clusters"
    try:
        find_bao()
    except OpenBaoMissing as error:
        return [Row(figure, "skipped", note=str(error), goal="≤ 10x")]
    ctx.progress(f"starting OpenBao and importing {MANY} intermediates")
    configs = {}
    for clusters in (1, MANY):
        path = ctx.workspace / f"verify-fleet-{clusters}.yaml"
        path.write_text(fleet.fleet_config(clusters), encoding="utf-8")
        configs[clusters] = path
    with fleet_openbao(ctx.workspace, MANY, ctx.env) as env:
        commands = [
            Command([*ctx.cli, "verify", "fleet", "-c", str(configs[n])], env, ctx.workspace, ok_codes=(0, 1))
            for n in (MANY, 1)
        ]
        codes: dict[int, int] = {}
        with recording_proxy(env["VAULT_ADDR"]) as (address, recording):  # once, counted, outside the timing
            for n, command in zip((MANY, 1), commands, strict=True):
                proxied = {**env, "VAULT_ADDR": address}
                codes[n] = subprocess.run(command.argv, env=proxied, capture_output=True, check=False).returncode
                if n == MANY:
                    requests, connections = len(recording.requests), recording.connections
        many, one = ctx.measure("verify-fleet", commands, runs=max(3, ctx.runs - 2))
    ratio = many.median / one.median
    return [
        Row(
            figure,
            milliseconds(many.median),
            f"`verify fleet` of 1 cluster {milliseconds(one.median)}",
            f"{ratio:.2f}x",
            "≤ 10x",
            ratio <= 10,
            note=f"one OpenBao dev server; {MANY} clusters: {requests} HTTP requests over {connections} "
            f"connection(s) of one client; exit codes {codes[MANY]} ({MANY} clusters) and {codes[1]} (1 cluster)",
            data={
                "ours_s": many.median,
                "baseline_s": one.median,
                "requests": requests,
                "connections": connections,
            },
        )
    ]


def rehearse_figure(ctx: Context) -> list[Row]:
    from bench.rehearse import one_run
    from istio_vault_ca.generator.errors import OpenBaoMissing
    from istio_vault_ca.verify.rehearsal.openbao import find_bao

    try:
        find_bao()
    except OpenBaoMissing as error:
        return [Row("`rehearse` of the default config", "skipped", note=str(error), goal="< 6 s")]
    runs = max(3, ctx.runs // 2)
    ctx.progress(f"measuring rehearse: {runs} runs after a warm-up (bench.rehearse)")
    walls: list[float] = []
    steps: dict[str, list[float]] = {}
    try:
        for index in range(runs + 1):
            wall, step_seconds = one_run(None, ctx.env)
            if index:
                walls.append(wall)
                for title, seconds in step_seconds.items():
                    steps.setdefault(title, []).append(seconds)
    except SystemExit as failure:  # bench.rehearse exits with the rehearsal's output when it fails
        return [Row("`rehearse` of the default config", "failed", goal="< 6 s", met=False, note=str(failure)[:300])]
    median = statistics.median(walls)
    slowest = sorted(((statistics.median(v), t) for t, v in steps.items()), reverse=True)[:3]
    return [
        Row(
            "`rehearse` of the default config",
            milliseconds(median),
            goal="< 6 s",
            met=median < 6,
            note="slowest steps: " + "; ".join(f"{title} {seconds:.1f} s" for seconds, title in slowest),
            data={"ours_s": median, **{f"step: {t}": s for s, t in slowest}},
        )
    ]


# The default setup.sh's CLI calls (first run, re-run) before its steps shared the run's facts (ISTIO_VAULT_CA_RUN);
# 32 and 16 before lib.sh read all mounts in one call.
BEFORE_FIRST, BEFORE_RERUN = 23, 13


def cli_calls_figure(ctx: Context) -> list[Row]:
    """vault/bao CLI processes setup.sh of the default config starts (each ~0.12 s of start-up): deterministic."""
    from bench.cli_calls import count_calls
    from istio_vault_ca.generator.errors import OpenBaoMissing
    from istio_vault_ca.verify.rehearsal.openbao import find_bao

    figure = "vault CLI calls of `vault/setup.sh` (default config): first run / re-run"
    try:
        find_bao()
    except OpenBaoMissing as error:
        return [Row(figure, "skipped", note=str(error))]
    ctx.progress("counting the CLI calls of vault/setup.sh (bench.cli_calls)")
    workdir = ctx.workspace / "cli-calls"
    workdir.mkdir()
    counts = count_calls(workdir)
    return [
        Row(
            figure,
            f"{counts.first_total} / {counts.rerun_total}",
            f"{BEFORE_FIRST} / {BEFORE_RERUN} (before the steps of one setup.sh run shared what they read)",
            f"{counts.first_total / BEFORE_FIRST:.2f}x / {counts.rerun_total / BEFORE_RERUN:.2f}x",
            "fewer than the baseline",
            counts.first_total < BEFORE_FIRST and counts.rerun_total < BEFORE_RERUN,
            note="per script, first run: " + ", ".join(f"{k} {v}" for k, v in counts.first.items()),
            data={"first": counts.first_total, "rerun": counts.rerun_total},
        )
    ]


def memory_rows(ctx: Context) -> list[Row]:
    """Peak RSS of the commands measured above, each from runs of its own (the largest of three)."""
    rows = []
    for key, label in (
        ("render", "peak RSS of `render` (default config)"),
        ("render-fleet", f"peak RSS of `render` ({MANY} clusters)"),
        ("chain", "peak RSS of `verify chain DIR`"),
        ("chain-many", f"peak RSS of `verify chain DIR1 … DIR{MANY}`"),
    ):
        if key not in ctx.memory:
            continue
        peak = ctx.memory[key]
        if peak is None:
            rows.append(Row(label, "not measurable here (no GNU time, no /proc)", goal="< 100 MB"))
        else:
            rows.append(Row(label, f"{peak:.0f} MB", goal="< 100 MB", met=peak < 100, data={"peak_rss_mb": peak}))
    return rows


FIGURES: dict[str, Callable[[Context], list[Row]]] = {
    "help": help_figure,
    "render": render_figure,
    "render-fleet": render_fleet_figure,
    "chain": chain_figures,
    "vault": vault_figure,
    "verify-fleet": verify_fleet_figure,
    "rehearse": rehearse_figure,
    "cli-calls": cli_calls_figure,
}


def ensure_openssl(progress: Callable[[str], None]) -> str | None:
    """openssl on PATH, installing it with apt-get when missing and possible; None (figures say so) otherwise."""
    found = shutil.which("openssl")
    if found:
        return found
    progress("openssl is not installed; it is the baseline of the `verify chain` figures")
    if shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0:
        progress("installing it: apt-get update && apt-get install -y openssl")
        subprocess.run(["apt-get", "update", "-qq"], check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", "openssl"], check=False)
    else:
        progress("install it (e.g. `sudo apt-get install openssl`, `sudo dnf install openssl`, `brew install openssl`)")
    return shutil.which("openssl")
