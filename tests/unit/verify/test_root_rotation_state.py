"""Pieces of `plan-rotation --root` that need no Vault: the next phase and the refusals from a surveyed state, the
wait before phase (d), and root-cert.pem out of the istio-ca-root-cert ConfigMap. The whole flow runs against
OpenBao in tests/integration/test_root_rotation*.py."""

from __future__ import annotations

import datetime as dt

import pytest

from istio_vault_ca.generator.errors import RotationRefused
from istio_vault_ca.generator.pki.factory import self_signed_ca
from istio_vault_ca.verify.rotation.phases import root_cert_of_configmap
from istio_vault_ca.verify.rotation.root import RootRotationState, refusal, wait_refusal

NOW = dt.datetime(2030, 6, 1, 12, 0, tzinfo=dt.timezone.utc)
OLD = self_signed_ca("old root", now=NOW - dt.timedelta(days=10))
NEW = self_signed_ca("new root", now=NOW - dt.timedelta(days=1))


def state(
    bundle: tuple[bytes, ...],
    *,
    delivered: bool,
    on_old: tuple[str, ...],
    reissued: dt.datetime | None = None,
    unfinished: tuple[str, ...] = (),
) -> RootRotationState:
    return RootRotationState(
        "old-id",
        OLD.cert,
        "new-id",
        NEW.cert,
        b"".join(bundle) or None,
        delivered,
        on_old,
        tuple(name for name in ("east", "west") if name not in on_old and name not in unfinished),
        unfinished,
        (),
        reissued,
    )


def test_each_phase_follows_from_what_vault_holds() -> None:
    assert state((), delivered=False, on_old=("east", "west")).next_phase == "a"
    assert state((OLD.pem, NEW.pem), delivered=False, on_old=("east", "west")).next_phase == "b"
    assert state((OLD.pem, NEW.pem), delivered=True, on_old=("west",)).next_phase == "c"
    assert state((OLD.pem, NEW.pem), delivered=True, on_old=(), unfinished=("east",)).next_phase == "c"
    assert state((OLD.pem, NEW.pem), delivered=True, on_old=()).next_phase == "d"
    assert state((NEW.pem,), delivered=False, on_old=()).next_phase == "done"


def test_the_unsafe_orders_are_refused_with_the_reason() -> None:
    before_b = state((OLD.pem, NEW.pem), delivered=False, on_old=("east", "west"))
    assert "mTLS outage" in (refusal(before_b, "c") or "")
    during_c = state((OLD.pem, NEW.pem), delivered=True, on_old=("west",), unfinished=("east",))
    assert refusal(during_c, "c") is None
    assert "(still on the old root: west, east)" in (refusal(during_c, "d") or "")
    assert refusal(state((), delivered=False, on_old=("east",)), "b") == (
        "phase (b) delivers the trust bundle phase (a) writes: run phase (a) first"
    )


def test_phase_d_waits_the_workload_certificate_ttl_from_the_recorded_time() -> None:
    day = 86400
    unrecorded = state((OLD.pem, NEW.pem), delivered=True, on_old=())
    assert "is recorded" in (wait_refusal(unrecorded, day, NOW) or "")
    recorded = state((OLD.pem, NEW.pem), delivered=True, on_old=(), reissued=NOW - dt.timedelta(hours=5, minutes=30))
    reason = wait_refusal(recorded, day, NOW) or ""
    assert "(86400s)" in reason and "18h30m left (until 2030-06-02T06:30:00Z)" in reason
    assert wait_refusal(recorded, day, NOW + dt.timedelta(hours=18, minutes=30)) is None
    assert wait_refusal(recorded, 5 * 3600, NOW) is None


def test_root_cert_is_read_from_the_configmap_istiod_writes() -> None:
    configmap = {"kind": "ConfigMap", "data": {"root-cert.pem": (OLD.pem + NEW.pem).decode()}}
    assert root_cert_of_configmap(configmap, "apps") == (OLD.pem + NEW.pem, "ConfigMap apps/istio-ca-root-cert")
    with pytest.raises(RotationRefused, match=r"no ConfigMap apps/istio-ca-root-cert \(is istiod running"):
        root_cert_of_configmap(None, "apps")
    with pytest.raises(RotationRefused, match=r"ConfigMap apps/istio-ca-root-cert has no root-cert\.pem"):
        root_cert_of_configmap({"data": {"other": "x"}}, "apps")


def test_offline_roots_come_from_the_bundle_record_and_a_different_new_root_is_refused() -> None:
    from istio_vault_ca.generator.errors import UsageError
    from istio_vault_ca.verify.rotation.root import check_new_root, root_file_problem
    from istio_vault_ca.verify.rotation.root_offline import fingerprint, offline_roots, root_id

    other = self_signed_ca("other root", now=NOW - dt.timedelta(days=1))
    # Before phase (a): the old root is root.certificate_file's; there is no new root yet.
    old_id, old, new_id, new = offline_roots({}, OLD.cert)
    assert (old_id, old, new_id, new) == (root_id(OLD.cert), OLD.cert, None, None)
    assert old_id == f"offline-{fingerprint(OLD.cert)[:16]}"
    with pytest.raises(UsageError, match=r"root\.certificate_file cannot be read"):
        offline_roots({}, None)
    # After (a): both read back from the record, whatever the config file now holds.
    record = {"old_root": OLD.pem.decode(), "new_root": NEW.pem.decode()}
    assert offline_roots(record, other.cert) == (root_id(OLD.cert), OLD.cert, root_id(NEW.cert), NEW.cert)
    during = state((OLD.pem, NEW.pem), delivered=True, on_old=("west",))
    check_new_root(during, NEW.cert, "new.pem")
    with pytest.raises(RotationRefused, match="recorded in the trust bundle by phase \\(a\\)") as refused:
        check_new_root(during, other.cert, "other.pem")
    assert "CN=other root" in str(refused.value) and fingerprint(NEW.cert) in str(refused.value)
    with pytest.raises(UsageError, match="is the root being replaced"):
        check_new_root(during, OLD.cert, "old.pem")
    # Done: root.certificate_file must hold the new root; before done nothing is said about it.
    done = state((NEW.pem,), delivered=True, on_old=())
    assert "still holds CN=old root" in (root_file_problem(done, OLD.cert, "root.pem") or "")
    assert root_file_problem(done, NEW.cert, "root.pem") is None
    assert root_file_problem(during, OLD.cert, "root.pem") is None
