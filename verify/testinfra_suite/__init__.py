"""The cluster and in-pod checks of `istio-vault-ca verify cluster`, as a pytest-testinfra suite.

Run it against the istiod pod (options in plugin.py)::

    pytest -p istio_vault_ca.verify.testinfra_suite.plugin --pyargs istio_vault_ca.verify.testinfra_suite \
        --ivc-config istio-vault-ca.yaml \
        --hosts='kubectl://istiod-xxx?namespace=istio-system&container=discovery'
"""
