"""`tally merchants near | show | set`: the merchant registry and its directory (protocol 7)."""

from __future__ import annotations

from typing import Any

import click

from ..client.geo import to_e6
from .common import emit_json, json_option, table, talking_to, url_option
from .governance import sign_and_send, with_signing


@click.group()
def merchants() -> None:
    """The merchant registry: merchants near a point, one merchant's entry, setting an entry."""


def _e6(value: str, bound: int, name: str) -> int:
    try:
        return to_e6(value, bound)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=name) from None


@merchants.command("near")
@click.option("--lat", required=True, help="Latitude, decimal degrees.")
@click.option("--lon", required=True, help="Longitude, decimal degrees.")
@click.option("--asset", default=None, help="Only merchants that accept this asset.")
@click.option("--category", default=None, help="Only this ISO 18245 category (MCC), e.g. 5814.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 100))
@click.option("--cursor", default=None, help="next_cursor of the previous page.")
@url_option
@json_option
def near(
    lat: str, lon: str, asset: str | None, category: str | None, limit: int, cursor: str | None, url: str, as_json: bool
) -> None:
    """Merchants nearest a point, nearest first."""
    _e6(lat, 90, "--lat")  # checked here: a one-line error before any request
    _e6(lon, 180, "--lon")
    with talking_to(url) as client:
        page = client.directory(lat, lon, asset=asset, category=category, limit=limit, cursor=cursor)
    if as_json:
        emit_json(page)
        return
    rows = [(m.merchant, f"{m.distance_m:,} m", m.category, ", ".join(m.accepts)) for m in page.items]
    table(["MERCHANT", "DISTANCE", "MCC", "ACCEPTS"], rows, right={1})
    if page.next_cursor:
        click.echo(f"more: --cursor {page.next_cursor}")


@merchants.command("show")
@click.argument("merchant")
@url_option
def show(merchant: str, url: str) -> None:
    """One merchant's registry entry, as JSON."""
    with talking_to(url) as client:
        emit_json(client.merchant(merchant))


@merchants.command("set")
@click.argument("merchant")
@click.option("--category", required=True, help="ISO 18245 category (MCC), 4 digits.")
@click.option("--region", required=True, help="Region code, e.g. KR-11.")
@click.option("--lat", required=True, help="Latitude, decimal degrees.")
@click.option("--lon", required=True, help="Longitude, decimal degrees.")
@click.option("--business-no", required=True, help="Business registration number.")
@click.option("--accepts", "accepts", multiple=True, help="An asset it accepts (repeat).")
def set_entry(
    merchant: str,
    category: str,
    region: str,
    lat: str,
    lon: str,
    business_no: str,
    accepts: tuple[str, ...],
    **signing: Any,
) -> None:
    """Set a merchant's entry (signed, --key, by the member that registered it)."""
    fields: dict[str, Any] = {
        "merchant": merchant,
        "category": category,
        "region": region,
        "lat_e6": _e6(lat, 90, "--lat"),
        "lon_e6": _e6(lon, 180, "--lon"),
        "business_no": business_no,
        "accepts": list(accepts),
    }
    sign_and_send("set_merchant", fields, signing)


with_signing(set_entry)
