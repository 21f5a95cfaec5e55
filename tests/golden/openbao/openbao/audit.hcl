# Rendered by istio-vault-ca; edit the config and re-render rather than this file.
#
# The file audit device, declared in OpenBao's server configuration: OpenBao 2.x refuses to enable audit devices
# over the API, and loads those its configuration declares when it starts (they then show in sys/audit).
#
# - A server you run yourself: add this stanza to its configuration file (or pass this file as one more
#   -config=), restart the server, then run vault/setup.sh; vault/01-audit.sh checks that the device is loaded.
# - The OpenBao Helm chart: openbao-helm-values.yaml already carries it in server.standalone.config, with
#   server.auditStorage mounted at /openbao/audit; for an HA install add it to server.ha.raft.config (or
#   server.ha.config) as well. The chart's dev mode (server.dev.enabled) ignores both.
#
# /openbao/audit/audit.log is a path on the OpenBao server.
audit "file" "file/" {
  options {
    file_path = "/openbao/audit/audit.log"
  }
}
