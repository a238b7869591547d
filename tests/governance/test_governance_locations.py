"""The registry stores no location outside the configured stores, and nothing but a sha256
as a hash: every kind of bad location is refused with 422 naming the field, and nothing
is written."""

from __future__ import annotations

import pytest
from govtest import S3_STORE, STORE, Gov, make_project, register_model, sha
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from governance.errors import InvalidInput
from governance.locations import Locations, normalize_root

BAD_STORE_URIS = [
    "file:///etc/passwd",  # a file: URL outside the store
    f"{STORE}/../../../etc/passwd",  # traversal
    f"{STORE}/models/../../../etc/passwd",
    f"{STORE}/models/./m.skops",
    f"{STORE}/models//m.skops",
    f"{STORE}/models/%2e%2e/m.skops",  # traversal after decoding
    f"{STORE}/models/%2F..%2Fm.skops",
    f"{STORE}/models\\..\\m.skops",
    f"{STORE}/models/m.skops?version=2",
    f"{STORE}/models/m.skops#frag",
    f"{STORE}/models/m\x00.skops",  # NUL
    f"{STORE}/models/m\n.skops",
    f"{STORE}-evil/models/m.skops",  # a sibling of the root, not inside it
    STORE,  # the root itself
    f"{STORE}/",
    "file://models/m.skops",  # relative
    "http://mlgate-test/artifacts/models/m.skops",  # a foreign scheme
    "ftp://host/m.skops",
    "s3://other-bucket/artifacts/models/m.skops",
    f"{S3_STORE}-evil/m.skops",
    f"{S3_STORE}/../secrets/key",
    "s3://Mlgate_Test/artifacts/m.skops",
    "the model is on Bob's laptop",  # free text
    "",
    f"{STORE}/{'a' * 1000}",  # too long
]
BAD_SOURCES = [
    "ftp://host/data.csv",
    "http://example.org/data.csv",
    "s3://key:secret@bucket/data.csv",  # a credential in the URI
    "snowflake://user:pw@account/db/schema?table=t",
    "file://../../etc/passwd",
    "file://data/../../etc/passwd",
    "file://data\x00.csv",
    "data.csv",
    "",
    "file://" + "a" * 1000,
]
BAD_HASHES = ["", "0" * 63, "0" * 65, "A" * 64, "g" * 64, "sha256:" + "0" * 57, "0" * 128]


def _refusals(call: object, field: str, values: list[str]) -> list[str]:
    """The values ``call`` did not refuse with a 422 naming ``field``."""
    missed = []
    for value in values:
        try:
            call(value)  # type: ignore[operator]
        except InvalidInput as exc:
            if field not in exc.message or exc.code != "invalid_input":
                missed.append(f"{value!r}: {exc.message}")
        else:
            missed.append(f"{value!r}: accepted")
    return missed


def test_a_model_outside_the_stores_is_refused_and_not_registered(gov: Gov) -> None:
    dev = gov.client("developer")
    s = make_project(gov, dev)
    before = dev.list_models(s.project).total

    def register(uri: str) -> None:
        dev.register_model(
            s.project,
            algorithm="lr",
            params={},
            metrics={"roc_auc": 0.999},
            artifact_uri=uri,
            sha256=sha("x"),
            dataset_version=s.dataset_version,
            code_version="0",
        )

    assert _refusals(register, "artifact_uri", BAD_STORE_URIS) == []
    assert dev.list_models(s.project).total == before


def test_a_dataset_with_a_bad_location_or_hash_is_refused(gov: Gov) -> None:
    dev = gov.client("developer")
    s = make_project(gov, dev)

    def register(**fields: str) -> None:
        body = {
            "source": "file://applications.csv",
            "snapshot_uri": f"{STORE}/snapshots/s.parquet",
            "content_hash": sha(repr(fields)),
            **fields,
        }
        dev.register_dataset(s.project, row_count=10, contract_version=1, **body)

    missed = _refusals(lambda u: register(snapshot_uri=u), "snapshot_uri", BAD_STORE_URIS)
    missed += _refusals(lambda u: register(source=u), "source", BAD_SOURCES)
    missed += _refusals(lambda h: register(content_hash=h), "content_hash", BAD_HASHES)
    assert missed == []
    assert dev.list_datasets(s.project).total == 1


def test_monitoring_reports_outside_the_stores_are_refused(gov: Gov) -> None:
    dev = gov.client("developer")
    s = make_project(gov, dev)
    for field in ("report_uri", "json_uri"):

        def record(uri: str, field: str = field) -> None:
            dev.record_monitoring(
                s.project,
                model_version=s.model_version,
                drift_share=0.0,
                dataset_drift=False,
                drifted_columns=[],
                **{field: uri},  # type: ignore[arg-type]
            )

        assert _refusals(record, field, BAD_STORE_URIS) == []
    assert dev.list_monitoring(s.project).total == 0


def test_locations_inside_either_store_are_recorded(gov: Gov) -> None:
    dev = gov.client("developer")
    s = make_project(gov, dev)
    on_s3 = register_model(dev, s.project, s.dataset_version, algorithm="s3")
    assert on_s3.artifact_uri.startswith(STORE)
    model = dev.register_model(
        s.project,
        algorithm="lr",
        params={},
        metrics={},
        artifact_uri=f"{S3_STORE}/models/ab/{sha('m')}.skops",
        sha256=sha("m"),
        dataset_version=s.dataset_version,
        code_version="0",
    )
    assert model.artifact_uri.startswith(S3_STORE + "/models/")


_SEGMENT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="/"), min_size=0, max_size=12
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(segments=st.lists(_SEGMENT, min_size=1, max_size=6))
def test_whatever_is_accepted_stays_inside_the_store(segments: list[str]) -> None:
    locations = Locations(stores=(normalize_root(STORE),), source_schemes=("file",))
    uri = STORE + "/" + "/".join(segments)
    try:
        locations.check_store_uri("artifact_uri", uri)
    except InvalidInput:
        return
    path = uri.removeprefix("file://")
    parts = path.split("/")
    assert path.startswith("/srv/mlgate-test/artifacts/")
    assert ".." not in parts and "." not in parts and "" not in parts[1:]
    assert not any(c in uri for c in "\x00%\\?#\n\r")


@pytest.mark.parametrize(
    "root",
    ["file://relative/root", "ftp://host/root", "s3://Bad_Bucket/x", "file:///a/../b", ""],
)
def test_a_bad_store_root_is_refused_at_start_up(root: str) -> None:
    with pytest.raises(InvalidInput, match="store root"):
        normalize_root(root)
