# Rendered by istio-vault-ca; edit the config and re-render rather than this file.
#
# The file audit device, declared in OpenBao's server configuration: OpenBao 2.x refuses to enable audit devices
# over the API, and loads those its configuration declares when it starts (they then show in sys/audit).
#
# - A server you run yourself: add this stanza to its configuration file (or pass this file as one more
#   -config=), restart the server, then run vault/setup.sh; vault/01-audit.sh checks that the device is loaded.
# - The OpenBao Helm chart: `istio-vault-ca render --merge-into <your-openbao-values.yaml>` appends it to your
#   own server.standalone.config (server.ha.config or server.ha.raft.config for HA), between marker comments,
#   and sets server.auditStorage mounted at /openbao/audit as openbao-helm-values.yaml does; your listener,
#   storage and seal stay. The chart's dev mode (server.dev.enabled) ignores that config.
#
# /openbao/audit/audit.log is a path on the OpenBao server.
audit "file" "file/" {
  options {
    file_path = "/openbao/audit/audit.log"
  }
}
