"""Fidelity tier: the verifier's verdicts compared with Istio's own code (tests/oracles/istio_ca) on a corpus of CA
bundles generated at test time (tests/fidelity/corpus.py). Needs Go; see tests/gobuild.py."""
