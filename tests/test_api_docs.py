"""The API's docs: docs/api.md and /openapi.json group every route by tag with an example; links stay inside."""

from __future__ import annotations

import re
from pathlib import Path

from tally.api.openapi import ROUTES, openapi_document
from tally.api.openapi_docs import ROUTE_DOCS, TAGS, limits_table
from tally.core.limits import Limits

ROOT = Path(__file__).resolve().parent.parent
API_MD = (ROOT / "docs" / "api.md").read_text()


def _section(tag: str) -> str:
    found = re.search(rf"^## {tag}\n(.*?)(?=^## )", API_MD, re.S | re.M)
    assert found is not None, f"docs/api.md has a section for {tag}"
    return found[1]


def test_every_route_is_documented_under_its_tag_with_an_example() -> None:
    paths = {path for _, path, *_ in ROUTES} | {"/v1/events"}
    assert paths == set(ROUTE_DOCS)
    for path, (tag, example) in ROUTE_DOCS.items():
        assert tag in dict(TAGS)
        assert example is not None, path
        shown = re.sub(r"\{(account|asset)\}", "{id}", path)
        assert f"/{shown.strip('/')}" in _section(tag).replace("`", " ").replace("?", " "), (path, tag)


def test_the_openapi_document_has_tags_examples_and_the_limits_table() -> None:
    doc = openapi_document(Limits())
    assert [t["name"] for t in doc["tags"]] == [name for name, _ in TAGS]
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            assert operation["tags"] == [ROUTE_DOCS[path][0]], (path, method)
            success = next(iter(operation["responses"].values()))["content"]
            assert any("example" in media for media in success.values()), (path, method)
            if "requestBody" in operation:
                assert "example" in operation["requestBody"]["content"]["application/json"]
    assert limits_table(Limits()) in doc["info"]["description"]


def test_docs_api_md_shows_the_limits_the_node_has() -> None:
    assert limits_table(Limits()) in API_MD, "regenerate the table with tally.api.openapi_docs.limits_table"


def test_readme_and_docs_link_only_inside_the_repository() -> None:
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)", page.read_text()):
            if re.match(r"[a-z]+://", target):
                assert target.startswith(("http://127.0.0.1", "https://127.0.0.1")), (page.name, target)
                continue
            resolved = (page.parent / target).resolve()
            assert resolved.is_relative_to(ROOT) and resolved.exists(), (page.name, target)
