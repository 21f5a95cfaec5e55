"""The file names istiod reads from its CA directory: the one place they are spelled.

istiod's plugged-in CA (`pilot/pkg/bootstrap/istio_ca.go`, `security/pkg/pki/ca/ca.go`) reads these four names from
`ROOT_CA_DIR`. Kept free of heavy imports so `verify chain` can use them without loading the config model.
"""

from __future__ import annotations

CA_CERT = "ca-cert.pem"
CA_KEY = "ca-key.pem"
CERT_CHAIN = "cert-chain.pem"
ROOT_CERT = "root-cert.pem"

# In the order the agent templates render them and reports list them.
CA_FILES = (CA_CERT, CA_KEY, CERT_CHAIN, ROOT_CERT)

# Where istiod reads them when ROOT_CA_DIR is not set (`./etc/cacerts` from its working directory, /): the chart's
# `cacerts` Secret mount.
ISTIOD_DEFAULT_CA_DIR = "/etc/cacerts"
