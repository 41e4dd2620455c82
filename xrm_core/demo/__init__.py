"""A small, deterministic demo data set (people, vehicles, parking violations).

It shows the core on its own; the contacts and sales plugins bring their own
demo data later.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from decimal import Decimal
from importlib import resources
from typing import Any

from xrm_core.xrm import XRM

_FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "John", "Radia", "Ken"]
_LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Backus"]
_MAKES = ["Renault", "Volvo", "Fiat", "Toyota", "Skoda", "Ford"]
_STREETS = ["High Street", "Station Road", "Church Lane", "Mill Road", "Park Avenue"]


def schemas() -> list[dict[str, Any]]:
    """The demo entity definitions, in dependency order."""
    folder = resources.files(__package__).joinpath("schemas")
    names = ["person", "vehicle", "parking_violation"]
    return [json.loads(folder.joinpath(f"{n}.json").read_text()) for n in names]


def load(xrm: XRM, *, size: int = 200, seed: int = 7) -> dict[str, int]:
    """Define the demo entities (if missing) and add ``size`` people with their cars
    and fines. The same ``seed`` gives the same data. Returns records added per entity."""
    xrm.metadata.define(schemas())
    if xrm.records("person").count():
        return {}  # already loaded: the demo is meant to be run again safely
    rng = random.Random(seed)
    people = [_person(rng, i) for i in range(size)]
    with xrm.transaction():
        made = xrm.records("person").create_many(people)
        ids = [r.record["id"] for r in made.rows if r.record]
        vehicles = [_vehicle(rng, i, rng.choice(ids)) for i in range(size * 3 // 2)]
        cars = xrm.records("vehicle").create_many(vehicles)
        car_ids = [r.record["id"] for r in cars.rows if r.record]
        fines = [_violation(rng, rng.choice(car_ids)) for _ in range(size * 4)]
        xrm.records("parking_violation").create_many(fines)
    return {"person": len(people), "vehicle": len(vehicles), "parking_violation": len(fines)}


def _person(rng: random.Random, i: int) -> dict[str, Any]:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    return {
        "name": f"{first} {last}",
        "email": f"{first}.{last}.{i}@example.org".lower(),
        "phone": f"+44 20 7946 {rng.randrange(10000):04d}",
        "born_on": dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(20000)),
    }


def _vehicle(rng: random.Random, i: int, keeper: Any) -> dict[str, Any]:
    return {
        "plate": f"XRM-{i:05d}",
        "make": rng.choice(_MAKES),
        "kind": rng.choice(["car", "car", "car", "van", "motorbike", "truck"]),
        "keeper": keeper,
    }


def _violation(rng: random.Random, vehicle: Any) -> dict[str, Any]:
    issued = dt.datetime(2025, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=rng.randrange(525600))
    return {
        "vehicle": vehicle,
        "issued_at": issued,
        "fine": Decimal(rng.choice([30, 50, 70, 110])),
        "status": rng.choice(["open", "open", "paid", "paid", "paid", "appealed", "cancelled"]),
        "street": rng.choice(_STREETS),
    }
