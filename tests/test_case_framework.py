"""The program's objectives as an IMS CASE 1.0 framework (lms/framework): the package
validates against the published CASE 1.0 CFPackage schema (vendored in tests/schemas/),
identifiers are stable UUIDs derived from the content's ids, the tree and the modules
that teach each objective are there, and unknown identifiers answer 404."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from flask import Flask

from lms.framework.services import node_id

SCHEMA = json.loads((Path(__file__).parent / "schemas" / "case-v1p0-cfpackage-schema.json").read_text())
BASE = "/ims/case/v1p0"
DOCUMENT = node_id("ai-operations", "document:ai-operations")


def validator(definition: str | None = None) -> jsonschema.Draft7Validator:
    schema = SCHEMA if definition is None else {"$ref": f"#/definitions/{definition}", "definitions": SCHEMA["definitions"]}
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def errors(instance: Any, definition: str | None = None) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator(definition).iter_errors(instance)]


@pytest.fixture()
def package(loaded: Flask, client: Any) -> dict[str, Any]:
    response = client.get(f"{BASE}/CFPackages/{DOCUMENT}")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return dict(response.get_json())


def test_the_package_validates_against_the_case_schema(package: dict[str, Any]) -> None:
    assert errors(package) == []
    # the validator does refuse what is not CASE
    broken = json.loads(json.dumps(package))
    broken["CFItems"][0]["identifier"] = "KO1"
    del broken["CFAssociations"][0]["originNodeURI"]
    assert len(errors(broken)) == 2


def test_documents_and_items_are_served_and_valid(package: dict[str, Any], client: Any) -> None:
    documents = client.get(f"{BASE}/CFDocuments").get_json()["CFDocuments"]
    assert [d["identifier"] for d in documents] == [DOCUMENT]
    assert errors(documents[0], "CFPackageDocument") == []
    document = client.get(f"{BASE}/CFDocuments/{DOCUMENT.upper()}").get_json()
    assert document == package["CFDocument"] and document["title"] == "AI Operations for Entrepreneurs"
    assert document["CFPackageURI"]["uri"].endswith(f"{BASE}/CFPackages/{DOCUMENT}")
    item = client.get(f"{BASE}/CFItems/{node_id('ai-operations', 'objective:KO1')}").get_json()
    assert item["humanCodingScheme"] == "KO1" and item["abbreviatedStatement"] == "MLOps fundamentals"
    assert errors(item, "CFPackageItem") == []


def test_levels_objectives_outcomes_and_criteria_form_the_tree(package: dict[str, Any]) -> None:
    items = {i["identifier"]: i for i in package["CFItems"]}
    by_code = {i["humanCodingScheme"]: i for i in package["CFItems"]}
    parents: dict[str, list[str]] = {}
    for a in package["CFAssociations"]:
        if a["associationType"] == "isChildOf":
            parents.setdefault(a["originNodeURI"]["identifier"], []).append(a["destinationNodeURI"]["identifier"])
    # levels and objectives hang from the document
    for code in ("foundation", "intermediate", "KO1", "SO1", "AO1"):
        assert parents[by_code[code]["identifier"]] == [DOCUMENT], code
    assert by_code["foundation"]["CFItemType"] == "Level" and by_code["KO1"]["CFItemType"] == "Knowledge objective"
    # an objective's outcomes, application examples and criteria are its children, in order
    ko1 = by_code["KO1"]["identifier"]
    children = [items[i] for i, p in parents.items() if p == [ko1]]
    kinds = {c["CFItemType"] for c in children}
    assert kinds == {"Learning outcome", "Assessment criterion"}
    assert by_code["KO1.O1"]["fullStatement"].startswith("Describe each stage a model passes through")
    assert by_code["KO1.C1"]["CFItemType"] == "Assessment criterion"
    assert by_code["SO1.A1"]["CFItemType"] == "Application example" and by_code["SO1.O1"]["CFItemType"] == "Skill area"
    assert by_code["SO1.C1"]["CFItemType"] == "Competency indicator"
    # modules hang from every level holding one of their months (MLOps: month 1, and month 6 again)
    assert parents[by_code["mlops"]["identifier"]] == [by_code["foundation"]["identifier"], by_code["intermediate"]["identifier"]]
    # every node an association names is in the package (or is the document)
    for a in package["CFAssociations"]:
        assert a["originNodeURI"]["identifier"] in items
        assert a["destinationNodeURI"]["identifier"] in items or a["destinationNodeURI"]["identifier"] == DOCUMENT


def test_the_modules_that_teach_an_objective_are_related_to_it(package: dict[str, Any]) -> None:
    [grouping] = package["CFDefinitions"]["CFAssociationGroupings"]
    assert grouping["title"] == "Taught in module"
    by_id = {i["identifier"]: i for i in package["CFItems"]}
    taught = {by_id[a["destinationNodeURI"]["identifier"]]["humanCodingScheme"]
              for a in package["CFAssociations"]
              if a["associationType"] == "isRelatedTo" and a["originNodeURI"]["identifier"] == node_id("ai-operations", "objective:KO1")}
    assert "mlops" in taught
    assert all(a["CFAssociationGroupingURI"]["identifier"] == grouping["identifier"]
               for a in package["CFAssociations"] if a["associationType"] == "isRelatedTo")
    # the item types used are defined
    types = {t["identifier"] for t in package["CFDefinitions"]["CFItemTypes"]}
    assert {i["CFItemTypeURI"]["identifier"] for i in package["CFItems"]} == types


def test_identifiers_are_uuids_derived_from_the_content_ids(package: dict[str, Any], app: Flask,
                                                             load_content: Callable[..., Any], client: Any) -> None:
    namespace = uuid.uuid5(uuid.NAMESPACE_URL, "urn:lms:case:ai-operations")
    by_code = {i["humanCodingScheme"]: i["identifier"] for i in package["CFItems"]}
    assert by_code["KO1"] == str(uuid.uuid5(namespace, "objective:KO1"))
    assert by_code["KO1.O2"] == str(uuid.uuid5(namespace, "objective:KO1:outcome:2"))
    assert by_code["foundation"] == str(uuid.uuid5(namespace, "level:foundation"))
    identifiers = [i["identifier"] for i in package["CFItems"]] + [a["identifier"] for a in package["CFAssociations"]]
    assert len(identifiers) == len(set(identifiers))
    # loading the content again changes no identifier
    load_content()
    again = client.get(f"{BASE}/CFPackages/{DOCUMENT}").get_json()
    assert again == package


def test_unknown_identifiers_answer_404_with_an_imsx_status(loaded: Flask, client: Any) -> None:
    for path in (f"CFPackages/{uuid.uuid4()}", f"CFDocuments/{uuid.uuid4()}", f"CFItems/{uuid.uuid4()}", "CFPackages/not-a-uuid"):
        response = client.get(f"{BASE}/{path}")
        assert response.status_code == 404, path
        body = response.get_json()
        assert body["imsx_codeMajor"] == "failure"
    assert client.get(f"{BASE}/CFPackages/not-a-uuid").get_json()["imsx_description"] == "Invalid UUID"


def test_without_content_there_are_no_documents(app: Flask, client: Any) -> None:
    assert client.get(f"{BASE}/CFDocuments").get_json() == {"CFDocuments": []}
    assert client.get(f"{BASE}/CFPackages/{DOCUMENT}").status_code == 404


def test_the_package_takes_a_fixed_number_of_statements(loaded: Flask, client: Any,
                                                         count_queries: Callable[[Callable[[], Any]], int]) -> None:
    statements = count_queries(lambda: client.get(f"{BASE}/CFPackages/{DOCUMENT}"))
    assert statements <= 8
