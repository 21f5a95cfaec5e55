"""Coverage-guided fuzzing of the config loader (atheris): any bytes either load or raise ConfigError.

A traceback of any other exception, a run over -timeout seconds or memory over -rss_limit_mb is a finding
(`make fuzz`). Run by hand: python tests/fuzz/fuzz_config.py CORPUS_DIR tests/fuzz/corpus/config -max_total_time=60
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    import ruamel.yaml  # noqa: F401 - instrumented so that new YAML shapes count as coverage

    from istio_vault_ca.generator.config.loader import parse_text
    from istio_vault_ca.generator.errors import ConfigError


def test_one_input(data: bytes) -> None:
    text = data.decode("utf-8", errors="replace")
    try:
        parse_text(text, "fuzz.yaml")
    except ConfigError as error:
        str(error)  # the message itself must render


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
