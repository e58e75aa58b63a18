"""The trial configuration (``trial.toml``): load, validate, resolve paths.

Users write this file, so its keys are a contract (DESIGN.md §3). Validation happens
once, here, at the boundary: unknown keys, wrong types, impossible dates, unknown time
zones and unparseable patrol windows each raise :class:`~guardian_rct._core.errors.ConfigError`
naming the key and saying how to fix it. Relative paths resolve against the directory of
the config file. The sections' dataclasses below are the schema; the generic checking
lives in :mod:`guardian_rct.config.schema` and patrol windows in
:mod:`guardian_rct.config.windows`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import tomllib
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from guardian_rct._core.errors import ConfigError
from guardian_rct.config.schema import build_section, plain, unknown_key
from guardian_rct.config.windows import PatrolWindow, parse_clock, parse_window

__all__ = [
    "TrialConfig",
    "TrialSpec",
    "HotspotsSpec",
    "DesignSpec",
    "ScheduleSpec",
    "ComplianceSpec",
    "OutcomeSpec",
    "HarmSpec",
    "EvaluationSpec",
    "MapsSpec",
    "OutputsSpec",
    "PatrolWindow",
    "load_config",
    "config_from_dict",
    "parse_window",
]


@dataclass(frozen=True)
class TrialSpec:
    """``[trial]``: identity, calendar and seed of the trial."""

    name: str = field(metadata={"help": "the trial's name, shown on every report"})
    start_date: dt.date = field(metadata={"help": 'first experimental day (YYYY-MM-DD)'})
    end_date: dt.date = field(metadata={"help": 'last experimental day (inclusive)'})
    seed: int = field(metadata={"help": 'root seed of every random draw; keep it secret from officers until the trial ends'})
    timezone: str = field(default="Europe/London", metadata={"help": "IANA time zone of the trial's local clock"})
    day_starts: str = field(default="06:00", metadata={"help": 'local clock time at which an experimental day starts (a crime at 05:59 belongs to the previous day)'})
    store: Path = field(default=Path("trial.db"), metadata={"help": 'the SQLite trial store (registration, published schedules, pseudonym key, weekly trend)'})
    simulated: bool = field(default=False, metadata={"help": 'the trial itself is simulated (the demo): every report, tasking sheet and status page carries a SIMULATED DATA banner'})

    @property
    def tz(self) -> ZoneInfo:
        """The trial's time zone."""
        return ZoneInfo(self.timezone)

    @property
    def day_start_time(self) -> dt.time:
        """Local clock time at which an experimental day starts."""
        return parse_clock(self.day_starts, "trial.day_starts")

    @property
    def n_days(self) -> int:
        """Number of experimental days, inclusive of both ends."""
        return (self.end_date - self.start_date).days + 1


@dataclass(frozen=True)
class HotspotsSpec:
    """``[hotspots]``: where the hotspot polygons are and how to read them."""

    path: Path = field(metadata={"help": 'hotspot polygons: GeoJSON, GeoPackage or Shapefile'})
    id_column: str = field(default="hotspot_id", metadata={"help": "column with each hotspot's unique id"})
    block_column: str | None = field(default=None, metadata={"help": 'column of randomisation blocks (e.g. district); unset = one block'})
    name_column: str = field(default="name", metadata={"help": 'column with a readable hotspot name'})
    crs: str = field(default="EPSG:27700", metadata={"help": 'projected CRS everything is measured in (metres)'})
    boundary: Path | None = field(default=None, metadata={"help": 'force boundary polygon, for checks and map outlines'})
    buffer_rings_m: tuple[float, ...] = field(default=(100.0, 200.0), metadata={"help": 'outer radii (m) of the displacement buffer rings; [] for none'})


@dataclass(frozen=True)
class MapsSpec:
    """``[maps]``: context layers for the maps on tasking sheets and reports.

    ``basemap`` is a user's GeoPackage or Shapefile (e.g. OS Open Roads) drawn under
    everything on the static maps; ``districts`` are named areas drawn as outlines with
    their names (default: ``districts.geojson`` beside ``[hotspots] boundary``, as the
    shipped geodata has); ``wards`` are smaller named areas whose names are drawn faintly
    where there is room (default: ``wards.geojson`` beside the boundary); ``tiles`` is a tile URL template
    (``https://.../{z}/{x}/{y}.png``) for the interactive maps, with its
    ``tiles_attribution`` -- without it the interactive maps need no network at all.
    """

    basemap: Path | None = field(default=None, metadata={
        "help": "a GeoPackage/Shapefile (e.g. OS Open Roads) drawn under everything on the static maps"})
    districts: Path | None = field(default=None, metadata={
        "help": "named areas drawn with their names (default: districts.geojson beside [hotspots] boundary)"})
    wards: Path | None = field(default=None, metadata={
        "help": "smaller named areas (e.g. wards) named faintly where there is room "
                "(default: wards.geojson beside [hotspots] boundary)"})
    tiles: str | None = field(default=None, metadata={
        "help": "tile URL template for the interactive maps, e.g. https://tile.example/{z}/{x}/{y}.png "
                "(default: none, so the maps need no network)"})
    tiles_attribution: str = field(default="", metadata={"help": "attribution shown with the tiles"})


@dataclass(frozen=True)
class OutputsSpec:
    """``[outputs]``: how files for other tools are written (``docs/outputs.md``).

    ``csv_bom`` starts every CSV with a UTF-8 byte-order mark, so that Excel and Power BI
    read names such as ``Łódź`` correctly; ``--csv-bom`` turns it on for one command.
    ``large_tables`` picks the format of the tables that grow with the pings
    (``compliance_visits`` and ``quarantine``): Parquet by default (a 5 M-row quarantine is
    a fraction of its CSV size and is written batch by batch), CSV, or both; the small
    per-hotspot and per-team tables are always CSV.
    """

    csv_bom: bool = field(default=False, metadata={
        "help": "start every CSV with a UTF-8 byte-order mark (for Excel and Power BI); --csv-bom does it for one command"})
    large_tables: Literal["parquet", "csv", "both"] = field(default="parquet", metadata={
        "help": "format of the row-level tables that grow with the pings (the weekly visits and the ping "
                "quarantine): parquet (compact, typed, streamed), csv (for spreadsheets) or both; "
                "--large-tables does it for one command"})


@dataclass(frozen=True)
class DesignSpec:
    """``[design]``: how hotspots are randomised to patrol.

    For ``kind = "crossover"`` exactly one of ``treated_per_day``,
    ``treated_per_block_per_day`` and ``prob_treated`` sets how many are treated each
    day. For ``kind = "parallel"``, ``assignment`` picks complete, block or matched-pair
    randomisation, and ``n_treated`` or ``prob_treated`` how many are treated.
    """

    kind: Literal["crossover", "parallel"] = field(default="crossover", metadata={"help": 'crossover: re-randomised every day; parallel: each hotspot keeps its arm for the whole trial'})
    treated_per_day: int | None = field(default=None, metadata={"help": 'crossover: hotspots patrolled each day (split across blocks in proportion)'})
    treated_per_block_per_day: int | None = field(default=None, metadata={"help": 'crossover: hotspots patrolled per block each day'})
    prob_treated: float | None = field(default=None, metadata={"help": 'probability a hotspot is patrolled (crossover: each day; parallel: for the trial)'})
    assignment: Literal["complete", "block", "matched_pair"] = field(default="complete", metadata={"help": 'parallel: complete, block or matched-pair randomisation'})
    n_treated: int | None = field(default=None, metadata={"help": 'parallel: number of hotspots in the patrol arm'})
    pair_covariate: str | None = field(default=None, metadata={"help": 'parallel matched_pair: hotspot column to pair on (e.g. prior_violence)'})
    max_consecutive_control_days: int | None = field(default=None, metadata={"help": 'crossover: every hotspot is patrolled at least once in every N + 1 days'})
    min_gap_days: int | None = field(default=None, metadata={"help": 'crossover: washout days between two patrol days of a hotspot'})
    windows: tuple[PatrolWindow, ...] = field(default=(PatrolWindow(dt.time(15), dt.time(23)),), metadata={"help": 'local clock windows a patrol may start in, e.g. ["15:00-23:00"]'})
    patrol_minutes: int = field(default=15, metadata={"help": 'length of one scheduled patrol (minutes)'})
    visits_per_day: int = field(default=1, metadata={"help": 'scheduled patrols per treated hotspot-day'})
    visit_spacing_minutes: int = field(default=120, metadata={"help": 'minimum minutes between two patrols of a hotspot-day'})


@dataclass(frozen=True)
class ScheduleSpec:
    """``[schedule]``: publishing rules for daily schedules.

    ``horizon_days`` is part of the registered design (changing it is refused).
    ``witness`` is the append-only file that every publish, import and export appends the
    ledger head to, and that ``ledger verify`` checks by default (default: the store's
    path with ``.witness`` appended). Put it outside the trial folder (another share, a
    mailed log) to make it a witness the trial folder's users cannot rewrite.
    """

    horizon_days: int = field(default=7, metadata={"help": 'a day can be published at most this many days ahead of today'})
    witness: Path | None = field(default=None, metadata={"help": "the ledger's witness file (default: the store's path + '.witness'); keep it outside the trial folder"})


@dataclass(frozen=True)
class ComplianceSpec:
    """``[compliance]``: how location pings are turned into delivered patrols."""

    arrival_within_hours: float = field(default=24.0, metadata={"help": 'a patrol is delivered if an officer arrives within this many hours of its start'})
    gps_tolerance_m: float = field(default=0.0, metadata={"help": 'hotspots are grown by this many metres before matching pings'})
    max_ping_gap_minutes: float = field(default=5.0, metadata={"help": 'in-hotspot pings further apart than this are separate visits'})
    min_visit_minutes: float = field(default=0.0, metadata={"help": 'shorter stays are not visits'})
    koper_minutes: float = field(default=15.0, metadata={"help": 'Koper dose: one continuous presence at least this long'})
    target_rate: float = field(default=0.75, metadata={"help": 'headline compliance target (green at or above, amber within 15 points)'})
    rag_min_patrols: int = field(default=10, metadata={"help": 'a red/amber/green cell from fewer decided patrols is shown greyed with a caution mark (below 10, one patrol moves the rate by over 10 points)'})
    max_accuracy_m: float = field(default=100.0, metadata={"help": 'pings reporting worse GPS accuracy are quarantined'})


@dataclass(frozen=True)
class OutcomeSpec:
    """One ``[outcomes.NAME]`` table: which crimes an outcome counts.

    An empty selection counts every crime. ``offence_codes`` are Home Office codes
    (``"008/01"``; a code without the ``/NN`` part matches every subcode),
    ``crime_types`` are data.police.uk categories, ``victim_age_below`` keeps crimes
    whose victim is younger than this (serious youth violence: 25).
    """

    name: str
    offence_codes: tuple[str, ...] = field(default=(), metadata={"help": 'Home Office codes counted ("008/01"; "008" = the whole class)'})
    crime_types: tuple[str, ...] = field(default=(), metadata={"help": 'data.police.uk crime types counted'})
    victim_age_below: int | None = field(default=None, metadata={"help": 'count only crimes whose victim is younger than this'})
    description: str = field(default="", metadata={"help": 'plain words for reports'})


@dataclass(frozen=True)
class HarmSpec:
    """``[harm]``: which crime-harm index weights crimes, and which crimes it excludes."""

    index: str = field(default="cchi-default", metadata={"help": 'harm index: cchi-default (shipped), or a path to the CCHI spreadsheet or a weights CSV'})
    exclude_proactive: bool = field(default=True, metadata={"help": 'leave out crimes found by police activity (detection = proactive)'})
    exclude_historic_days: int | None = field(default=365, metadata={"help": 'leave out crimes reported more than this many days after they happened'})
    max_unweighted_share: float = field(default=0.01, metadata={"help": 'harm is called "estimated" only when at most this share of hotspot crimes has no harm weight'})
    accept_unweighted: bool = field(default=False, metadata={"help": 'accept a larger unweighted share (the report still states it, by code)'})


@dataclass(frozen=True)
class EvaluationSpec:
    """``[evaluation]``: outcomes, inference and milestones of the evaluation."""

    outcomes: tuple[str, ...] = field(default=("all_crime",), metadata={"help": 'outcomes evaluated (names of [outcomes.NAME] tables or the defaults)'})
    primary_outcome: str | None = field(default=None, metadata={"help": 'the primary outcome (default: the first of outcomes)'})
    ri_draws: int = field(default=10_000, metadata={"help": 'randomisation-inference re-draws (0 skips it)'})
    ri_statistic: Literal["studentised", "score"] = field(default="studentised", metadata={"help": 'randomisation-inference statistic: studentised (the centred Poisson score over its cluster-robust SE, recomputed per redraw) or score (the plain centred score)'})
    ri_p_value: Literal["equal-tailed", "symmetric"] = field(default="equal-tailed", metadata={"help": 'randomisation two-sided p-value: equal-tailed (twice the smaller one-sided p, each side an exact test at alpha/2 under the sharp null) or symmetric (the share of redraws with |t*| >= |t|)'})
    alpha: float = field(default=0.05, metadata={"help": 'two-sided significance level'})
    milestones: tuple[dt.date, ...] = field(default=(), metadata={"help": 'dates of the planned interim and final looks'})
    baseline_days: int = field(default=365, metadata={"help": 'days before the trial used for baseline crime and harm'})
    se_type: str = field(default="CR2", metadata={"help": 'Poisson FE standard errors: CR2 (Bell-McCaffrey, Satterthwaite df) or CR1 (G/(G-1)(N-1)/(N-K), t(G-1))'})
    wild_bootstrap_draws: int = field(default=9_999, metadata={"help": 'wild cluster score bootstrap replications for the Poisson ITT p-value (0 skips it)'})
    information: Literal["events", "calendar"] = field(default="events", metadata={"help": 'information scale of the O\'Brien-Fleming looks: expected events (observed / planned from the baseline rate) or calendar days'})


@dataclass(frozen=True)
class TrialConfig:
    """A validated trial configuration.

    Build it with :func:`load_config`; ``source`` is the config file and ``raw`` the
    parsed TOML, both kept for provenance and for the trial store's registration.
    """

    trial: TrialSpec
    hotspots: HotspotsSpec
    design: DesignSpec = field(default_factory=DesignSpec)
    schedule: ScheduleSpec = field(default_factory=ScheduleSpec)
    compliance: ComplianceSpec = field(default_factory=ComplianceSpec)
    outcomes: tuple[OutcomeSpec, ...] = ()
    harm: HarmSpec = field(default_factory=HarmSpec)
    evaluation: EvaluationSpec = field(default_factory=EvaluationSpec)
    maps: MapsSpec = field(default_factory=MapsSpec)
    outputs: OutputsSpec = field(default_factory=OutputsSpec)
    source: Path | None = None
    raw: types.MappingProxyType = field(default_factory=lambda: types.MappingProxyType({}))

    @property
    def witness_path(self) -> Path:
        """The ledger's witness file: ``[schedule] witness``, or ``<store>.witness``."""
        if self.schedule.witness is not None:
            return self.schedule.witness
        store = self.trial.store
        return store.with_name(store.name + ".witness")

    @property
    def base_dir(self) -> Path:
        """Directory relative paths were resolved against."""
        return self.source.parent if self.source else Path.cwd()

    def outcome(self, name: str) -> OutcomeSpec:
        """The outcome called ``name``; ``ConfigError`` naming the known ones otherwise."""
        for spec in self.outcomes:
            if spec.name == name:
                return spec
        raise ConfigError(
            f"unknown outcome '{name}'",
            expected="one of " + ", ".join(o.name for o in self.outcomes),
            found=repr(name),
            where="outcomes",
            fix=f"add an [outcomes.{name}] table or use a defined outcome",
        )

    def canonical_json(self) -> str:
        """The parsed TOML as canonical JSON (sorted keys), for hashing and the store."""
        return json.dumps(plain(dict(self.raw)), sort_keys=True, separators=(",", ":"))


# ---------------------------------------------------------------------------
# Validation machinery
# ---------------------------------------------------------------------------

_SECTIONS: dict[str, type] = {
    "trial": TrialSpec,
    "hotspots": HotspotsSpec,
    "design": DesignSpec,
    "schedule": ScheduleSpec,
    "compliance": ComplianceSpec,
    "harm": HarmSpec,
    "evaluation": EvaluationSpec,
    "maps": MapsSpec,
    "outputs": OutputsSpec,
}
_REQUIRED_SECTIONS = ("trial", "hotspots")

# Home Office offence codes below are checked against the Home Office Counting Rules
# classification as listed (code → classification, e.g. 008/01 → 8N/8S) in the CCHI 2020
# values table (Cambridge Centre for Evidence-Based Policing) and the offence-group mapping
# of crime-sim-toolkit (MIT); see src/guardian_rct/data/ho_codes.csv and
# scripts/build_harm_tables.py.
_VIOLENCE_CODES = (
    # violence against the person (Home Office offence group): whole classes ...
    "001", "002", "003", "004", "005", "011", "013", "014", "036", "105", "106",
    # ... and the VAP subcodes of mixed classes (class 008 also holds weapon possession
    # 008/11, 008/26 etc. and public order 008/32, 008/55; 037/02 is vehicle taking;
    # 104/33 and up are non-notifiable obstruction and ASB notices)
    "008/01", "008/02", "008/04", "008/06", "008/20", "008/21", "008/22", "008/29", "008/30",
    "008/31", "008/52", "008/56", "008/57", "008/58", "008/59", "008/60", "008/65", "008/66",
    "008/67", "008/69", "008/71", "008/72", "008/73",
    "037/01", "104/23", "104/25", "104/30", "104/31",
)
# Serious youth violence, West Midlands Police definition (victim under 25):
#   s.18 wounding/GBH with intent, incl. attempts and s.18 on a constable  005/01 (5D, 8S)
#   s.20 wounding/GBH without intent, incl. on a constable                 008/01 (8N, 8S)
#   s.47 assault occasioning ABH, incl. on a constable                     008/06 (8N, 8S)
#   administering poison: to endanger life (s.23) / to injure (s.24)       005/10 (5E), 008/02 (8N)
#   assault on police with injury (class 8S) is inside 005/01, 008/01, 008/06
#   racially or religiously aggravated wounding/GBH, and assault/ABH       008/59, 008/60 (8P)
# Robbery is sometimes added: add "034/01" (robbery) and "034/02" (assault with intent to rob).
_SYV_CODES = ("005/01", "005/10", "008/01", "008/02", "008/06", "008/59", "008/60")

DEFAULT_OUTCOMES: tuple[OutcomeSpec, ...] = (
    OutcomeSpec("all_crime", description="every recorded crime"),
    OutcomeSpec(
        "violence",
        crime_types=("Violence and sexual offences", "Violent crime"),
        offence_codes=_VIOLENCE_CODES,
        description="violence against the person",
    ),
    OutcomeSpec(
        "serious_youth_violence",
        offence_codes=_SYV_CODES,
        victim_age_below=25,
        description="serious youth violence (WMP definition), victim under 25",
    ),
)


def _build_outcomes(raw: Any) -> tuple[OutcomeSpec, ...]:
    if raw is None:
        return DEFAULT_OUTCOMES
    if not isinstance(raw, dict):
        raise ConfigError("[outcomes] must be a table of named outcomes", where="outcomes",
                          fix="write [outcomes.violence] tables")
    specs = []
    for name, table in raw.items():
        if not isinstance(table, dict):
            raise ConfigError(f"outcome '{name}' must be a table", where=f"outcomes.{name}",
                              fix=f"write it as [outcomes.{name}]")
        specs.append(build_section(f"outcomes.{name}", OutcomeSpec, {**table, "name": name}))
    return tuple(specs)


def _check_rules(cfg: TrialConfig) -> None:
    trial, design = cfg.trial, cfg.design
    try:
        ZoneInfo(trial.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"unknown time zone '{trial.timezone}'",
            expected="an IANA time zone name such as 'Europe/London'",
            found=repr(trial.timezone),
            where="trial.timezone",
            fix="use a name from the IANA tz database",
        ) from None
    trial.day_start_time  # noqa: B018 - validates the clock format
    if trial.end_date < trial.start_date:
        raise ConfigError(
            "the trial ends before it starts",
            expected=f"end_date on or after start_date {trial.start_date}",
            found=str(trial.end_date),
            where="trial.end_date",
            fix="swap or correct the dates",
        )
    if not 0 <= trial.seed < 2**63:
        raise ConfigError("the seed is out of range", expected="an integer from 0 to 2^63 - 1",
                          found=str(trial.seed), where="trial.seed",
                          fix="use a non-negative integer such as 20221003")
    if not trial.name.strip():
        raise ConfigError("the trial needs a name", where="trial.name", fix="set name = \"...\"")
    _check_design(design)
    _check_positive(cfg)
    known = {o.name for o in cfg.outcomes}
    for i, name in enumerate(cfg.evaluation.outcomes):
        if name not in known:
            raise ConfigError(
                f"evaluation outcome '{name}' is not defined",
                expected="one of " + ", ".join(sorted(known)),
                found=repr(name),
                where=f"evaluation.outcomes[{i}]",
                fix=f"define [outcomes.{name}] or remove it",
            )


def _check_design(design: DesignSpec) -> None:
    if design.kind == "crossover":
        chosen = [k for k in ("treated_per_day", "treated_per_block_per_day", "prob_treated")
                  if getattr(design, k) is not None]
        if len(chosen) != 1:
            raise ConfigError(
                "a crossover design needs exactly one way to set how many are treated each day",
                expected="one of treated_per_day, treated_per_block_per_day, prob_treated",
                found=", ".join(chosen) or "none",
                where="design",
                fix="keep exactly one of those keys",
            )
    if design.prob_treated is not None and not 0 < design.prob_treated < 1:
        raise ConfigError("probability of treatment out of range", expected="0 < p < 1",
                          found=str(design.prob_treated), where="design.prob_treated",
                          fix="use a probability strictly between 0 and 1")
    if design.assignment == "matched_pair" and design.kind == "parallel" and not design.pair_covariate:
        raise ConfigError("matched-pair assignment needs a baseline covariate to pair on",
                          where="design.pair_covariate",
                          fix="name a hotspot column such as 'prior_violence'")
    for key in ("treated_per_day", "treated_per_block_per_day", "n_treated"):
        value = getattr(design, key)
        if value is not None and value < 1:
            raise ConfigError("must be at least 1", found=str(value), where=f"design.{key}",
                              fix="treat at least one hotspot")
    for key, low in (("max_consecutive_control_days", 0), ("min_gap_days", 0)):
        value = getattr(design, key)
        if value is not None and value < low:
            raise ConfigError("must not be negative", found=str(value), where=f"design.{key}",
                              fix="use zero or a positive number of days, or remove the key")
    if not design.windows:
        raise ConfigError("no patrol windows", where="design.windows",
                          fix='give at least one, e.g. windows = ["15:00-23:00"]')
    for i, window in enumerate(design.windows):
        if window.minutes < design.patrol_minutes:
            raise ConfigError(
                "patrol window shorter than a patrol",
                expected=f"at least patrol_minutes = {design.patrol_minutes} minutes",
                found=f"{window} ({window.minutes} minutes)",
                where=f"design.windows[{i}]",
                fix="widen the window or shorten patrol_minutes",
            )


def _check_positive(cfg: TrialConfig) -> None:
    checks = {
        "design.patrol_minutes": cfg.design.patrol_minutes,
        "design.visits_per_day": cfg.design.visits_per_day,
        "schedule.horizon_days": cfg.schedule.horizon_days,
        "compliance.arrival_within_hours": cfg.compliance.arrival_within_hours,
        "compliance.max_ping_gap_minutes": cfg.compliance.max_ping_gap_minutes,
    }
    nonneg = {
        "compliance.gps_tolerance_m": cfg.compliance.gps_tolerance_m,
        "compliance.min_visit_minutes": cfg.compliance.min_visit_minutes,
        "compliance.koper_minutes": cfg.compliance.koper_minutes,
        "compliance.rag_min_patrols": cfg.compliance.rag_min_patrols,  # 0: never cautioned
        "design.visit_spacing_minutes": cfg.design.visit_spacing_minutes,
        "evaluation.ri_draws": cfg.evaluation.ri_draws,  # 0 skips randomisation inference
        "evaluation.wild_bootstrap_draws": cfg.evaluation.wild_bootstrap_draws,
    }
    for key, value in checks.items():
        if value <= 0:
            raise ConfigError("must be positive", found=str(value), where=key,
                              fix="use a value greater than zero")
    for key, value in nonneg.items():
        if value < 0:
            raise ConfigError("must not be negative", found=str(value), where=key,
                              fix="use zero or a positive value")
    for key in ("target_rate",):
        value = getattr(cfg.compliance, key)
        if not 0 <= value <= 1:
            raise ConfigError("must be a proportion", expected="0 to 1", found=str(value),
                              where=f"compliance.{key}", fix="write e.g. 0.75 for 75%")
    if not 0 <= cfg.harm.max_unweighted_share <= 1:
        raise ConfigError("must be a proportion", expected="0 to 1", found=str(cfg.harm.max_unweighted_share),
                          where="harm.max_unweighted_share", fix="write e.g. 0.01 for 1%")
    if not 0 < cfg.evaluation.alpha < 1:
        raise ConfigError("alpha must be between 0 and 1", found=str(cfg.evaluation.alpha),
                          where="evaluation.alpha", fix="use e.g. 0.05")
    if cfg.evaluation.se_type not in ("CR2", "CR1"):
        raise ConfigError("unknown standard-error type", expected='"CR2" or "CR1"',
                          found=repr(cfg.evaluation.se_type), where="evaluation.se_type",
                          fix='use se_type = "CR2" (default) or "CR1"')


def _resolve(path: Path | None, base: Path) -> Path | None:
    if path is None:
        return None
    path = path.expanduser()
    return path if path.is_absolute() else (base / path).resolve()


def config_from_dict(raw: dict[str, Any], *, source: Path | None = None) -> TrialConfig:
    """Validate an already-parsed config mapping (as TOML would give) into a TrialConfig."""
    known = [*_SECTIONS, "outcomes"]
    for key in raw:
        if key not in known:
            raise unknown_key(key, known, key)
    for name in _REQUIRED_SECTIONS:
        if name not in raw:
            raise ConfigError(f"missing [{name}] section", where=name,
                              fix=f"add a [{name}] section (see README, 'Trial config')")
    sections = {name: build_section(name, cls, raw[name]) for name, cls in _SECTIONS.items()
                if name in raw}
    base = source.parent if source else Path.cwd()
    trial = sections["trial"]
    trial = dataclasses.replace(trial, store=_resolve(trial.store, base))
    hotspots = sections["hotspots"]
    hotspots = dataclasses.replace(hotspots, path=_resolve(hotspots.path, base),
                                   boundary=_resolve(hotspots.boundary, base))
    sections["trial"], sections["hotspots"] = trial, hotspots
    if "schedule" in sections:
        sections["schedule"] = dataclasses.replace(
            sections["schedule"], witness=_resolve(sections["schedule"].witness, base))
    if "maps" in sections:
        maps = sections["maps"]
        sections["maps"] = dataclasses.replace(maps, basemap=_resolve(maps.basemap, base),
                                               districts=_resolve(maps.districts, base),
                                               wards=_resolve(maps.wards, base))
    cfg = TrialConfig(
        **sections,
        outcomes=_build_outcomes(raw.get("outcomes")),
        source=source,
        raw=types.MappingProxyType(raw),
    )
    _check_rules(cfg)
    return cfg


def load_config(path: str | Path) -> TrialConfig:
    """Read and validate a ``trial.toml``.

    Raises
    ------
    ConfigError
        If the file is missing, is not TOML, or breaks a rule; the message names the key.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            "config file not found",
            expected="a trial.toml file",
            found="no such file" if not path.exists() else "a directory",
            where=path,
            fix="check the path given to --config",
        )
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", where=path,
                          fix="check quoting and brackets near the line named") from None
    except UnicodeDecodeError:
        raise ConfigError("not a text file", expected="UTF-8 TOML", where=path,
                          fix="save the config as UTF-8 text") from None
    try:
        return config_from_dict(raw, source=path.resolve())
    except ConfigError as exc:
        raise ConfigError(exc.problem, expected=exc.expected, found=exc.found,
                          where=f"{path}: {exc.where}" if exc.where else path, fix=exc.fix) from None
