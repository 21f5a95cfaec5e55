"""Coverage-guided fuzzing of the chain checks (atheris): `check_values` over any four byte strings returns
results and never raises (it reports `error` for input nobody foresaw).

The input is split on SEPARATOR into ca-cert.pem, ca-key.pem, cert-chain.pem and root-cert.pem (missing parts
are absent files). Run by hand: python tests/fuzz/fuzz_bundle.py CORPUS_DIR tests/fuzz/corpus/bundle
"""

from __future__ import annotations

import datetime as dt
import sys

import atheris

with atheris.instrument_imports():
    from istio_vault_ca.generator.config.cafiles import CA_FILES
    from istio_vault_ca.verify.checks.chain import check_values

SEPARATOR = b"\n%%\n"
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def test_one_input(data: bytes) -> None:
    parts = data.split(SEPARATOR, len(CA_FILES) - 1)
    values: dict[str, bytes | None] = dict.fromkeys(CA_FILES)
    for name, part in zip(CA_FILES, parts, strict=False):
        values[name] = part
    results = check_values(values, target="fuzz", key_mode=0o600, now=NOW)
    for result in results:
        str(result.finding)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
