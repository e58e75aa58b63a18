"""The compiled point-in-hotspot pass over a :class:`~guardian_rct.geo.point_index.HotspotIndex`.

One loop per slice of points (numba, :func:`guardian_rct._core.compiled.kernel`; the GIL
is released, so the slices run in threads): per point the fine cell (the same float
arithmetic as :func:`cell_codes_kernel`), the coarse code, the fine code where the coarse
cell has a block, and then

- *plainly outside / strictly inside one hotspot*: nothing, or one (point, hotspot) pair;
- *boundary cell*: the exact test of each of the cell's slots (one per hotspot that may
  contain the point, in hotspot order). The point ``p`` is inside the slot's hotspot
  when its status at the cell centre ``c``, flipped once per cell edge that the segment
  ``c -> p`` crosses, says so (the segment lies in the cell, so only the cell's edges can
  cross it). Each crossing is decided with orientation tests ``orient(a, b, p)``,
  ``orient(c, p, a)``, ``orient(c, p, b)`` whose sign is trusted only beyond Shewchuk's
  (1997, "Adaptive precision floating-point arithmetic and fast robust geometric
  predicates", §4.3) static error bound, in IEEE double arithmetic (no fastmath). A pair
  the bound cannot decide — the point on or within rounding of an edge or vertex, the
  segment within rounding of a vertex, or a centre too close to an edge to trust its
  status — is written to the *doubt* list for GEOS
  (:func:`guardian_rct.geo.point_exact.geos_pairs`), so the result is exactly
  ``sjoin(..., predicate="intersects")``.

Pairs come out sorted by point, then hotspot. A kernel stops early (returning where)
when an output buffer is full; the caller continues with fresh buffers. All compiled
functions live in this one module: numba's cache checks only the source file of the
function it loads, so a kernel calling a kernel of another module could run stale code.
For the same reason the constants the kernels read are written here, not imported (a
constant is compiled into the machine code); ``tests/test_point_kernel.py`` checks that
they equal the build's.
"""

from __future__ import annotations

import numpy as np

from guardian_rct._core.compiled import kernel

# The build's constants (point_build.ORIENT_ERR, point_raster.UNSURE), written out: see above.
ORIENT_ERR = 1e-15
UNSURE = 2

__all__ = ["assign_kernel", "cell_codes_kernel", "max_slots_per_cell"]

_INSIDE, _OUT, _DOUBT = 1, 0, 2


def max_slots_per_cell(many_start: np.ndarray) -> int:
    """The most pairs one point can give (slots of its cell): the buffers' reserve."""
    return max(1, int(np.diff(many_start).max())) if len(many_start) > 1 else 1


@kernel
def _orient_sign(ax, ay, bx, by, px, py):
    """Sign of orient2d(a, b, p): +1, -1, or 0 when the static filter cannot tell."""
    t1 = (ax - px) * (by - py)
    t2 = (ay - py) * (bx - px)
    d = t1 - t2
    if abs(d) > ORIENT_ERR * (abs(t1) + abs(t2)):
        return 1 if d > 0 else -1
    return 0


@kernel
def _slot_state(s, px, py, slot_status, slot_cx, slot_cy, slot_edges, pair_edge, pair_side, edges):
    """Whether point (px, py) is inside the hotspot of slot ``s``: _INSIDE, _OUT or _DOUBT."""
    status = slot_status[s]
    if status == UNSURE:
        return _DOUBT
    cx, cy = slot_cx[s], slot_cy[s]
    flips = 0
    for q in range(slot_edges[s], slot_edges[s + 1]):
        e = 4 * np.int64(pair_edge[q])
        ax, ay, bx, by = edges[e], edges[e + 1], edges[e + 2], edges[e + 3]
        sp = _orient_sign(ax, ay, bx, by, px, py)
        if sp != 0 and (sp > 0) == (pair_side[q] > 0):
            continue  # p on the centre's side of the edge's line: no crossing
        sa = _orient_sign(cx, cy, px, py, ax, ay)
        sb = _orient_sign(cx, cy, px, py, bx, by)
        if sa == 0 or sb == 0 or sp == 0 and sa != sb:
            return _DOUBT  # within rounding of a vertex, or of the edge and maybe crossing it
        if sa != sb:
            flips ^= 1  # a and b on either side of c -> p, c and p on either side of a -> b
    return _INSIDE if (status ^ flips) == 1 else _OUT


@kernel
def _cell(x, y, origin_x, origin_y, inv, top_x, top_y, lo):
    """Fine column and row (unsigned) of (x, y), shifted by one block and clipped to
    ``[lo, top]``: ``(v - origin) * inv``, clipped, truncated (= floor, being >= 0). A NaN
    gives ``lo`` (a comparison with NaN is false): the caller refuses NaN apart."""
    fx = (x - origin_x) * inv
    fy = (y - origin_y) * inv
    fx = fx if fx > lo else lo
    fx = fx if fx < top_x else top_x
    fy = fy if fy > lo else lo
    fy = fy if fy < top_y else top_y
    return np.uint64(fx), np.uint64(fy)


@kernel
def _select(x, y, a, b, origin_x, origin_y, inv, top_x, top_y, block, coarse_nx, coarse, blocks,
            sel, code, fine_at):
    """Codes of the points ``a <= i < b``: ``code[i - a]``, ``fine_at[i - a]`` (fine-cell
    number where the coarse cell has a block) and, in ``sel[:m]``, the ``i - a`` of the
    ``m`` points not plainly outside; returns ``m``, or -1 when a coordinate is NaN.

    In four short loops without data-dependent branches, so that the processor overlaps
    the table reads of many points: coarse codes; the points whose coarse cell has a
    block; their fine codes; the points kept. Indices are unsigned (numba then emits no
    negative-index wraparound).
    """
    shift = np.uint64(0)
    while (1 << shift) < block:
        shift += np.uint64(1)
    ublock = np.uint64(block)
    mask = np.uint64(block - 1)
    nx = np.uint64(coarse_nx)
    lo = np.float64(block - 1)
    n = b - a
    nan = False
    for j in range(n):
        u = np.uint64(j)
        px, py = x[np.uint64(a + j)], y[np.uint64(a + j)]
        nan |= (px != px) | (py != py)
        gx, gy = _cell(px, py, origin_x, origin_y, inv, top_x, top_y, lo)
        code[u] = coarse[(gy >> shift) * nx + (gx >> shift)]
        fine_at[u] = (gy & mask) * ublock + (gx & mask)  # in the block, if any
    if nan:
        return -1
    cells = block * block
    k = 0
    for j in range(n):
        sel[np.uint64(k)] = j
        k += code[np.uint64(j)] <= -2
    for q in range(k):
        j = np.uint64(sel[np.uint64(q)])
        at = fine_at[j] - (code[j] + 2) * cells
        fine_at[j] = at
        code[j] = blocks[np.uint64(at)]
    m = 0
    for j in range(n):
        sel[np.uint64(m)] = j
        m += code[np.uint64(j)] != -1
    return m


_SLICE = 1024  # points per _select call: its outputs stay in L1


@kernel
def _prefetch(bq, nb, sel, fine_at, special, slot_status, slot_cx, slot_cy, slot_edges, pair_edge,
              pair_side, edges, spec, sink):
    """The slot of each of the ``nb`` boundary points ``sel[bq[:nb]]`` into ``spec``, and
    a first read of its record and first edge, in branch-free loops: the cache misses of
    all of them overlap, instead of one after the other in the exact test, whose
    branches the processor cannot run ahead of."""
    for t in range(nb):
        spec[t] = special[fine_at[sel[bq[t]]]]
    for t in range(nb):
        slot = max(spec[t], 0)  # a shared cell (< 0) is not read ahead
        sink[t] = slot_cx[slot] + slot_cy[slot] + slot_status[slot] + slot_edges[slot]
    last = len(pair_edge) - 1
    for t in range(nb):
        q = min(np.int64(slot_edges[max(spec[t], 0)]), last)
        sink[t] += edges[4 * np.int64(pair_edge[max(q, 0)])] + pair_side[max(q, 0)]


@kernel
def assign_kernel(x, y, start, first, origin_x, origin_y, inv, top_x, top_y, block, coarse_nx,
                  coarse, blocks, special, many_start, many_slots, slot_hot, slot_status,
                  slot_cx, slot_cy, slot_edges, pair_edge, pair_side, edges, reserve,
                  out_p, out_h, doubt_p, doubt_h):
    """Pairs of points ``x[start:]``, ``y[start:]`` (numbered from ``first``) into
    ``out_p``/``out_h`` and doubtful pairs into ``doubt_p``/``doubt_h``.

    Returns ``(stop, n_out, n_doubt, nan)``: the position reached (``len(x)`` when done;
    less when a buffer had too little room, or with ``nan`` true when a coordinate is
    NaN). Buffers must hold more than ``reserve`` pairs (the most one point can give)
    for every call to make progress. Per slice of points: :func:`_select`; the boundary points' records read
    ahead; then the kept points in order, the runs of strictly-inside points between
    boundary points written without a branch.
    """
    n_out = 0
    n_doubt = 0
    cap, dcap = len(out_p), len(doubt_p)
    sel = np.empty(_SLICE, np.int64)
    code = np.empty(_SLICE, np.int64)
    fine_at = np.empty(_SLICE, np.int64)
    bq = np.empty(_SLICE + 1, np.int64)
    spec = np.empty(_SLICE, np.int64)
    sink = np.empty(_SLICE, np.float64)
    for a in range(start, len(x), _SLICE):
        m = _select(x, y, a, min(a + _SLICE, len(x)), origin_x, origin_y, inv, top_x, top_y, block,
                    coarse_nx, coarse, blocks, sel, code, fine_at)
        if m < 0:
            return a, n_out, n_doubt, True
        nb = 0
        for q in range(m):  # kept points are strictly inside (code >= 0) or boundary
            bq[nb] = q
            nb += code[sel[q]] <= -2
        bq[nb] = m
        _prefetch(bq, nb, sel, fine_at, special, slot_status, slot_cx, slot_cy, slot_edges, pair_edge,
                  pair_side, edges, spec, sink)
        q0 = 0
        for t in range(nb + 1):
            q1 = bq[t]
            stop = min(q1, q0 + cap - n_out)  # the run of inside points, or what fits of it
            for q in range(q0, stop):
                out_p[n_out] = first + a + sel[q]
                out_h[n_out] = code[sel[q]]
                n_out += 1
            if stop < q1 or t < nb and (n_out + reserve > cap or n_doubt + reserve > dcap):
                return a + sel[stop], n_out, n_doubt, False  # no room left (for the boundary point)
            if t == nb:
                break
            i = a + sel[q1]  # a boundary point: each slot of its cell, in hotspot order
            s = spec[t]
            k0, k1 = s, s + 1
            if s < 0:
                k0, k1 = many_start[-(s + 2)], many_start[-(s + 1)]
            for k in range(k0, k1):
                slot = s if s >= 0 else np.int64(many_slots[k])
                state = _slot_state(slot, x[i], y[i], slot_status, slot_cx, slot_cy, slot_edges, pair_edge,
                                    pair_side, edges)
                if state == _INSIDE:
                    out_p[n_out] = first + i
                    out_h[n_out] = slot_hot[slot]
                    n_out += 1
                elif state == _DOUBT:
                    doubt_p[n_doubt] = first + i
                    doubt_h[n_doubt] = slot_hot[slot]
                    n_doubt += 1
            q0 = q1 + 1
    return len(x), n_out, n_doubt, False


@kernel
def cell_codes_kernel(x, y, origin_x, origin_y, inv, top_x, top_y, block, coarse_nx, coarse, blocks, out):
    """The fine-cell code of every point into ``out``; returns False when a coordinate
    is NaN (``out`` then holds codes that must not be used)."""
    sel = np.empty(_SLICE, np.int64)
    code = np.empty(_SLICE, np.int64)
    fine_at = np.empty(_SLICE, np.int64)
    for a in range(0, len(x), _SLICE):
        b = min(a + _SLICE, len(x))
        if _select(x, y, a, b, origin_x, origin_y, inv, top_x, top_y, block, coarse_nx, coarse, blocks,
                   sel, code, fine_at) < 0:
            return False
        for j in range(b - a):
            out[a + j] = code[j]
    return True
