"""Manifests: what a plugin says it is and needs, checked with clear, located errors."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

# jsonschema ships no type information and no stubs package is installed.
import jsonschema  # type: ignore[import-untyped]
import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from xrm_core.errors import InvalidManifest, Problem
from xrm_core.plugins import Manifest, check_manifest, manifest_from_distribution
from xrm_core.plugins.manifest import manifest_schema_path, semver

if TYPE_CHECKING:
    from tests.plugins.conftest import Site


def problems(doc: Any) -> dict[str, str]:
    return {p.pointer: p.message for p in check_manifest(doc)}


def test_a_full_manifest_parses_into_versions_and_ranges() -> None:
    manifest = Manifest.from_dict(
        {
            "name": "sales",
            "version": "2.1.0",
            "description": "Leads, opportunities, quotes.",
            "core": ">=0.1,<1",
            "dependencies": {"contacts": "~=1.4"},
        }
    )
    assert manifest.name == "sales"
    assert manifest.version == Version("2.1.0")
    assert manifest.core == SpecifierSet(">=0.1,<1")
    assert dict(manifest.dependencies) == {"contacts": SpecifierSet("~=1.4")}
    assert manifest.dependencies["contacts"].contains("1.9.2")
    assert not manifest.dependencies["contacts"].contains("2.0.0")


def test_only_name_and_version_are_required_and_the_rest_means_anything() -> None:
    manifest = Manifest.from_dict({"name": "contacts", "version": "1.0.0"})
    assert (manifest.description, str(manifest.core), dict(manifest.dependencies)) == ("", "", {})
    assert manifest.core.contains("99.0.0")


def test_the_json_form_round_trips() -> None:
    doc = {
        "name": "sales",
        "version": "2.0.0-rc.1",
        "description": "SFA",
        "core": "<1,>=0.1",
        "dependencies": {"contacts": ">=1.4"},
    }
    assert Manifest.from_dict(doc).to_dict() == doc


def test_every_problem_is_reported_at_its_field() -> None:
    found = problems(
        {
            "name": "Sales",
            "version": "1.0",
            "core": "^1.0",
            "dependencies": {"Contacts": ">=1", "marketing": "latest"},
            "licence": "MIT",
        }
    )
    assert found == {
        "/name": "'Sales' is a bad name: use lower snake_case, starting with a letter, at most 40 "
        "characters",
        "/version": "'1.0' is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.4.0)",
        "/core": "'^1.0' is not a version range: write PEP 440 specifiers such as '>=1.2,<2' "
        "or '~=1.4' (empty: any version)",
        "/dependencies/Contacts": "'Contacts' is a bad name: use lower snake_case, starting with "
        "a letter, at most 40 characters",
        "/dependencies/marketing": "'latest' is not a version range: write PEP 440 specifiers "
        "such as '>=1.2,<2' or '~=1.4' (empty: any version)",
        "/licence": "unknown key 'licence'",
    }


def test_missing_keys_and_wrong_types_are_reported() -> None:
    assert check_manifest({"description": 3, "dependencies": ["contacts"]}) == [
        Problem("", "missing required key 'name'"),
        Problem("", "missing required key 'version'"),
        Problem("/dependencies", "['contacts'] is not of type 'object'"),
        Problem("/description", "3 is not of type 'string'"),
    ]
    assert problems(["sales"]) == {"": "a plugin manifest must be a JSON object"}


def test_invalid_manifest_raises_with_every_problem() -> None:
    with pytest.raises(InvalidManifest) as caught:
        Manifest.from_dict({"name": "sales", "version": "one"})
    assert caught.value.code == "invalid_manifest"
    assert caught.value.message == "the plugin manifest of 'sales' is not valid"
    assert [p.pointer for p in caught.value.problems] == ["/version"]


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("custom", "'custom' is reserved for an administrator's own customizations"),
        ("x" * 41, "at most 40 characters"),
        ("sales\n", "is a bad name"),
        ("2fa", "is a bad name"),
    ],
)
def test_plugin_names_follow_entity_names_and_custom_is_reserved(name: str, why: str) -> None:
    assert why in problems({"name": name, "version": "1.0.0"})["/name"]


def test_the_core_is_no_dependency_and_nothing_depends_on_itself() -> None:
    assert problems({"name": "sales", "version": "1.0.0", "dependencies": {"core": ">=1"}}) == {
        "/dependencies/core": "a plugin cannot be called 'core': the core's version goes in 'core'"
    }
    assert problems({"name": "sales", "version": "1.0.0", "dependencies": {"sales": ""}}) == {
        "/dependencies/sales": "a plugin cannot depend on itself"
    }


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("0.1.0", "0.1.0"),
        ("10.20.30", "10.20.30"),
        ("1.0.0-alpha.1", "1.0.0a1"),
        ("1.0.0-beta.2", "1.0.0b2"),
        ("1.0.0-rc.1", "1.0.0rc1"),
        ("1.0.0+build.7", "1.0.0+build.7"),
    ],
)
def test_semantic_versions_are_ordered_as_packaging_orders_them(text: str, parsed: str) -> None:
    assert Manifest.from_dict({"name": "a", "version": text}).version == Version(parsed)


@pytest.mark.parametrize("text", ["1", "1.0", "01.0.0", "1.0.0.0", "v1.0.0", "1.0.0-", " 1.0.0"])
def test_other_version_forms_are_refused(text: str) -> None:
    assert problems({"name": "a", "version": text}) == {
        "/version": f"{text!r} is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.4.0)"
    }


def test_a_pre_release_packaging_cannot_order_is_refused() -> None:
    assert problems({"name": "a", "version": "1.0.0-nightly"}) == {
        "/version": "'1.0.0-nightly': xRM orders pre-releases named alpha, beta or rc "
        "(1.0.0-rc.1), not others"
    }


def test_pre_releases_come_before_their_release() -> None:
    versions = ["1.0.0", "1.0.0-rc.1", "1.0.0-alpha.1", "0.9.9", "1.0.0-beta.1", "1.0.1"]
    ordered = sorted(
        versions, key=lambda v: Manifest.from_dict({"name": "a", "version": v}).version
    )
    assert ordered == ["0.9.9", "1.0.0-alpha.1", "1.0.0-beta.1", "1.0.0-rc.1", "1.0.0", "1.0.1"]


@pytest.mark.parametrize("spec", ["", ">=1.2,<2", "~=1.4", "==1.*", "!=1.3.0", ">= 1.0 , < 2"])
def test_pep_440_ranges_are_accepted(spec: str) -> None:
    assert problems({"name": "a", "version": "1.0.0", "core": spec}) == {}


@pytest.mark.parametrize("spec", ["^1.2", "1.x", ">=1.0 <2", "latest", ">=", "==1.0.*.*"])
def test_other_range_forms_are_refused(spec: str) -> None:
    assert list(problems({"name": "a", "version": "1.0.0", "core": spec})) == ["/core"]


@pytest.mark.parametrize(
    ("pep440", "expected"),
    [
        ("1.4.0", "1.4.0"),
        ("1.4", "1.4.0"),
        ("2.0.0rc1", "2.0.0-rc.1"),
        ("2.0.0a3", "2.0.0-alpha.3"),
        ("2.0.0b1", "2.0.0-beta.1"),
        ("2.0.0.dev4", "2.0.0-dev.4"),
        ("1.0.0+local.1", "1.0.0+local.1"),
        ("1.0.0.post1", "1.0.0.post1"),
    ],
)
def test_package_versions_are_written_as_semver(pep440: str, expected: str) -> None:
    assert semver(Version(pep440)) == expected


def test_the_schema_is_plain_json_schema_any_tool_can_use() -> None:
    schema = json.loads(manifest_schema_path().read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    assert validator.is_valid({"name": "sales", "version": "1.0.0", "core": ">=0.1"})
    assert not validator.is_valid({"name": "sales", "version": "1.0", "core": ">=0.1"})


def test_a_package_gives_version_description_core_and_plugin_dependencies(site: Site) -> None:
    site.install("xrm-contacts", "1.4.2", plugins={"contacts": "xrm_contacts"})
    site.install("xrm-partner-portal", "0.3.0", plugins={"partner": "xrm_partner"})
    site.install("requests-lite", "2.0.0")
    site.install(
        "xrm-sales",
        "2.0.0rc1",
        summary="Leads, opportunities and quotes.",
        requires=[
            "xrm>=0.1,<1",
            "xrm-contacts~=1.4",
            "xrm-partner-portal>=0.3",
            "requests-lite>=2",
            "xrm-marketing>=1; extra == 'marketing'",
            "xrm-service>=1; sys_platform == 'nonexistent'",
            "xrm-relationships>=0.2",
        ],
    )
    assert manifest_from_distribution("xrm-sales") == {
        "version": "2.0.0-rc.1",
        "description": "Leads, opportunities and quotes.",
        "core": "<1,>=0.1",
        # installed plugins by their entry points' names; a missing xrm-* package by its
        # name, so that resolving reports it instead of forgetting it
        "dependencies": {"contacts": "~=1.4", "partner": ">=0.3", "relationships": ">=0.2"},
    }


def test_a_package_without_requirements_gives_only_version_and_description(site: Site) -> None:
    site.install("xrm-contacts", "1.0", plugins={"contacts": "xrm_contacts"})
    assert manifest_from_distribution("xrm-contacts") == {
        "version": "1.0.0",
        "description": "",
        "dependencies": {},
    }
