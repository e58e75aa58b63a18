"""How much of the hotspot crime a harm index actually weighed, and whether that is enough.

A crime whose offence code has no weight in the harm index adds nothing to the harm
outcome. That is not a zero harm: it is a missing one, and if unweighted crimes are
common (or concentrated in one arm) the harm rate ratio is biased towards whatever the
weighted crimes say. :func:`harm_coverage` turns the panel's count of unweighted hotspot
crimes (``Panel.counts["unweighted"]``, by offence code) into a statement the milestone
report prints beside every harm estimate, and a verdict: harm is called *estimated* only
when the unweighted share is at most ``[harm] max_unweighted_share`` (default 1%), or the
user has accepted a larger share with ``[harm] accept_unweighted = true``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["HarmCoverage", "harm_coverage", "DEFAULT_MAX_UNWEIGHTED_SHARE"]

#: Largest share of hotspot crimes without a harm weight for which harm is called estimated.
DEFAULT_MAX_UNWEIGHTED_SHARE = 0.01


@dataclass(frozen=True)
class HarmCoverage:
    """Hotspot crimes of the trial period with and without a harm weight.

    Attributes
    ----------
    index_version
        The harm index, e.g. ``"CCHI 2026 subgroup medians (shipped)"``.
    n_crimes
        Crimes counted in a hotspot on a trial day.
    n_unweighted
        Of those, crimes the index has no weight for.
    by_code
        Offence code (or crime type, for records without a code) → unweighted crimes,
        largest first.
    max_share
        The threshold ``[harm] max_unweighted_share``.
    accepted
        ``[harm] accept_unweighted``: the user accepts a share above the threshold.
    """

    index_version: str
    n_crimes: int
    n_unweighted: int
    by_code: tuple[tuple[str, int], ...]
    max_share: float = DEFAULT_MAX_UNWEIGHTED_SHARE
    accepted: bool = False

    @property
    def share(self) -> float:
        """Share of hotspot crimes without a weight (0 when there are no crimes)."""
        return self.n_unweighted / self.n_crimes if self.n_crimes else 0.0

    @property
    def estimated(self) -> bool:
        """True when harm may be called estimated: share within the threshold, or accepted."""
        return self.share <= self.max_share or self.accepted

    @property
    def status(self) -> str:
        """``"complete"``, ``"within threshold"``, ``"accepted by the user"`` or ``"incomplete"``."""
        if self.n_unweighted == 0:
            return "complete"
        if self.share <= self.max_share:
            return "within threshold"
        return "accepted by the user" if self.accepted else "incomplete"

    def statement(self) -> str:
        """One sentence for the report."""
        if self.n_unweighted == 0:
            return (f"Every one of the {self.n_crimes:,} hotspot crimes had a harm weight in "
                    f"{self.index_version}.")
        codes = ", ".join(f"{c} ({n:,})" for c, n in self.by_code[:6])
        more = f" and {len(self.by_code) - 6} more" if len(self.by_code) > 6 else ""
        text = (f"{self.n_unweighted:,} of {self.n_crimes:,} hotspot crimes ({self.share:.1%}) had no harm "
                f"weight in {self.index_version} and add nothing to harm: {codes}{more}.")
        if self.status == "within threshold":
            return text + f" This is within the {self.max_share:.1%} the trial allows."
        if self.status == "accepted by the user":
            return text + (f" This is above the {self.max_share:.1%} threshold; the trial config accepts it "
                           f"([harm] accept_unweighted = true), so harm estimates are shown but understate harm.")
        return text + (f" This is above the {self.max_share:.1%} threshold ([harm] max_unweighted_share), so harm "
                       f"is not called estimated: load an index that weighs these codes, or set "
                       f"[harm] accept_unweighted = true to accept it.")

    def to_dict(self) -> dict[str, Any]:
        """JSON fields of the report's ``harm_coverage`` section."""
        return {"index_version": self.index_version, "n_crimes": int(self.n_crimes),
                "n_unweighted": int(self.n_unweighted), "share_unweighted": float(self.share),
                "max_unweighted_share": float(self.max_share), "accepted": bool(self.accepted),
                "status": self.status, "estimated": bool(self.estimated),
                "by_code": [{"code": c, "crimes": int(n)} for c, n in self.by_code],
                "statement": self.statement()}


def harm_coverage(n_crimes: int, unweighted: Mapping[str, int], *, index_version: str,
                  max_share: float = DEFAULT_MAX_UNWEIGHTED_SHARE, accepted: bool = False) -> HarmCoverage:
    """Build :class:`HarmCoverage` from the panel's counts.

    Parameters
    ----------
    n_crimes
        ``Panel.counts["in_hotspots_trial"]``.
    unweighted
        ``Panel.counts["unweighted"]``: code → crimes without a weight.
    """
    if not 0 <= max_share <= 1:
        raise ValueError(f"max_share must lie in [0, 1]; found {max_share}")
    by_code = tuple(sorted(((str(k), int(v)) for k, v in unweighted.items() if int(v) > 0),
                           key=lambda kv: (-kv[1], kv[0])))
    n_unweighted = sum(n for _, n in by_code)
    if n_unweighted > n_crimes:
        raise ValueError(f"{n_unweighted} unweighted crimes but only {n_crimes} hotspot crimes")
    return HarmCoverage(index_version=index_version, n_crimes=int(n_crimes), n_unweighted=n_unweighted,
                        by_code=by_code, max_share=float(max_share), accepted=bool(accepted))
